"""CI: check that every module meant to be compiled is (argv[1] == "compiled") or is not."""
import sys

import nexusloop._core as core
from nexusloop._core import _handles, _loopcore, _wheel
from nexusloop.channels import _bytes, _cross, _local, _park
from nexusloop.net import (_connect, _datagram, _pipe, _sendfile, _server, _sock, _stream,
                           _subprocess, _tls)

modules = (_handles, _wheel, _loopcore, _stream, _server, _connect, _sock, _datagram, _sendfile,
           _tls, _pipe, _subprocess, _cross, _local, _park, _bytes)
want = sys.argv[1] == "compiled"
for m in modules:
    assert core.is_compiled(m) == want, f"{m.__name__}: compiled={core.is_compiled(m)}: {m.__file__}"
print(f"{sys.version.split()[0]}: {len(modules)} modules {'compiled' if want else 'pure Python'}")
