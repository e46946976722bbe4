# Augmenting declarations for _stream.py (see that module's docstring).
cimport cython
from cpython.bytes cimport PyBytes_FromStringAndSize, PyBytes_AS_STRING, PyBytes_GET_SIZE
from cpython.buffer cimport PyObject_GetBuffer, PyBuffer_Release, PyBUF_SIMPLE, PyBUF_WRITABLE
from cpython.exc cimport PyErr_SetFromErrno

from nexusloop._core._loopcore cimport LoopCore, Watcher


cdef extern from "sys/socket.h" nogil:
    ssize_t _c_recv "recv"(int fd, void *buf, size_t n, int flags)
    ssize_t _c_send "send"(int fd, const void *buf, size_t n, int flags)


# One receive buffer for every transport: the GIL is held from recv() until the bytes are
# copied out, so no two transports (or threads) can use it at once.
cdef char _RECV_BUF[262144]


cdef inline object _recv_bytes(int fd):
    """recv() on ``fd`` into the static buffer; the bytes received (b'' at EOF).

    Errors raise the OSError subclass for errno (BlockingIOError, ConnectionResetError, ...),
    exactly as socket.recv() does.
    """
    cdef ssize_t n = _c_recv(fd, _RECV_BUF, sizeof(_RECV_BUF), 0)
    if n < 0:
        PyErr_SetFromErrno(OSError)
    return PyBytes_FromStringAndSize(_RECV_BUF, n)


cdef inline Py_ssize_t _recv_into(int fd, object buf) except -1:
    """recv() on ``fd`` into the writable buffer ``buf``; the number of bytes received."""
    cdef Py_buffer view
    cdef ssize_t n
    PyObject_GetBuffer(buf, &view, PyBUF_SIMPLE | PyBUF_WRITABLE)
    n = _c_recv(fd, view.buf, view.len, 0)
    PyBuffer_Release(&view)
    if n < 0:
        PyErr_SetFromErrno(OSError)
    return n


cdef inline Py_ssize_t _send_buffer(int fd, object data) except -1:
    """send() ``data`` (any contiguous buffer) on ``fd``; the number of bytes sent."""
    cdef Py_buffer view
    cdef ssize_t n
    if type(data) is bytes:
        n = _c_send(fd, PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data), 0)
    else:
        PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
        n = _c_send(fd, view.buf, view.len, 0)
        PyBuffer_Release(&view)
    if n < 0:
        PyErr_SetFromErrno(OSError)
    return n


cdef class _StreamCore(Watcher):
    cdef public object _transport
    cdef public LoopCore _loop
    cdef public object _sock
    cdef public int _fd
    cdef public object _protocol
    cdef object _data_received
    cdef public bint _protocol_connected
    cdef bint _buffered
    cdef public object _server
    cdef object _buffer
    cdef public Py_ssize_t _buffer_size
    cdef public Py_ssize_t _conn_lost
    cdef public bint _closing
    cdef public bint _paused
    cdef public bint _eof
    cdef public bint _reading
    cdef public bint _writing
    cdef public object _empty_waiter
    cdef public bint _protocol_paused
    cdef public object _high_water
    cdef public object _low_water

    cpdef _read_ready(self)
    cpdef _write_ready(self)
    cpdef write(self, data)
    cdef _read_into_buffer(self)
    cdef _read_eof(self)
    cdef _flush(self)
    cdef _stop_reading(self)
    cdef _stop_writing(self)
    cdef _maybe_pause_protocol(self)
    cdef _maybe_resume_protocol(self)
    cpdef _fatal_error(self, exc, str message)
    cpdef _force_close(self, exc)
