"""The I/O layer of nexusloop: sockets, DNS, transports, servers, datagrams.

Nothing here is a mixin of ``Loop``. Modules define plain functions whose first parameter is the
loop (``async def sock_recv(loop, sock, n)``), which ``nexusloop.Loop`` binds as class attributes
in its marked "network" section (``sock_recv = _sock.sock_recv``): the method *is* the function,
with no extra call frame. Objects with state of their own (transports, servers) are classes that
hold the loop; transports are the core's readiness watchers (``loop._watch_read`` /
``loop._watch_write``), so an I/O event reaches them without a Handle. These modules import
``nexusloop.loop`` for type checking only: the loop imports them, not the other way round.
"""

# The transports are compiled; importing the core first installs the pure-mode finder
# (NEXUSLOOP_NO_EXTENSIONS=1) before any of them is imported.
import nexusloop._core  # noqa: E402,F401
