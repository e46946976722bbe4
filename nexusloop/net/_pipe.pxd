# Augmenting declarations for _pipe.py (see that module's docstring).
from cpython.bytes cimport PyBytes_FromStringAndSize
from cpython.exc cimport PyErr_SetFromErrno


cdef extern from "unistd.h" nogil:
    ssize_t _c_read "read"(int fd, void *buf, size_t n)


# One receive buffer for every read pipe transport: the GIL is held from read() until the bytes
# are copied out, so no two transports (or threads) can use it at once. os.read() instead
# allocates 256 KiB per call, which glibc serves with mmap/mremap/munmap (three more syscalls).
cdef char _READ_BUF[262144]


cdef inline object _read_bytes(int fd):
    """read() on ``fd`` into the static buffer; the bytes read (b'' at EOF).

    Errors raise the OSError subclass for errno (BlockingIOError, ...), as os.read() does.
    """
    cdef ssize_t n = _c_read(fd, _READ_BUF, sizeof(_READ_BUF))
    if n < 0:
        PyErr_SetFromErrno(OSError)
    return PyBytes_FromStringAndSize(_READ_BUF, n)
