"""The I/O layer of nexusloop: sockets, DNS, transports, servers, datagrams.

Everything here is built on the loop core's readiness watchers (``loop._watch_read`` /
``loop._watch_write``) and holds the loop; nothing here is a mixin of ``Loop``. Modules define
plain functions whose first parameter is the loop, which ``nexusloop.Loop`` binds as methods.
"""

# The transports are compiled; importing the core first installs the pure-mode finder
# (NEXUSLOOP_NO_EXTENSIONS=1) before any of them is imported.
import nexusloop._core  # noqa: E402,F401
