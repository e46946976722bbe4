# Augmenting declarations for _tls.py (see that module's docstring).
cimport cython
from cpython.bytes cimport PyBytes_FromStringAndSize
from cpython.bytearray cimport PyByteArray_AS_STRING


cdef inline bytes _head(bytearray buffer, Py_ssize_t n):
    """The first ``n`` bytes of ``buffer`` as ``bytes`` (one copy, no memoryview)."""
    return PyBytes_FromStringAndSize(PyByteArray_AS_STRING(buffer), n)


cdef class _TLSCore:
    cdef public object _loop
    cdef object _waiter
    cdef public object _handshake_timeout
    cdef public object _shutdown_timeout
    cdef object _handshake_timer
    cdef object _shutdown_timer
    cdef double _handshake_start
    cdef bint _server_side
    cdef object _context
    cdef public dict _extra
    cdef public object _incoming
    cdef public object _outgoing
    cdef public object _sslobj
    cdef object _sslc
    cdef object _recv_view
    cdef bytearray _read_buffer
    cdef public int _state
    cdef public int _app_state
    cdef public Py_ssize_t _conn_lost
    cdef public bint _eof_received
    cdef public object _backlog
    cdef public Py_ssize_t _backlog_size
    cdef public object _transport
    cdef object _transport_write
    cdef public object _app_transport
    cdef object _protocol
    cdef public object _app_protocol
    cdef bint _app_buffered
    cdef object _app_data_received
    cdef public bint _ssl_writing_paused
    cdef public bint _app_reading_paused
    cdef public bint _ssl_reading_paused
    cdef public bint _app_writing_paused
    cdef public Py_ssize_t _incoming_high
    cdef public Py_ssize_t _incoming_low
    cdef public Py_ssize_t _outgoing_high
    cdef public Py_ssize_t _outgoing_low

    @cython.locals(old=int)
    cdef _set_state(self, int new_state)
    cdef _wakeup_waiter(self, exc=*)
    cdef _cancel_timers(self)
    @cython.locals(state=int)
    cpdef buffer_updated(self, Py_ssize_t nbytes)
    cdef _start_handshake(self)
    cdef _do_handshake(self)
    cdef _on_handshake_complete(self, handshake_exc)
    @cython.locals(state=int)
    cpdef _start_shutdown(self)
    cdef _do_flush(self)
    cdef _do_shutdown(self)
    cdef _on_shutdown_complete(self, shutdown_exc)
    cpdef _abort(self, exc)
    @cython.locals(state=int, written=Py_ssize_t)
    cpdef write(self, data)
    @cython.locals(state=int)
    cdef _write_appdata(self, list_of_data)
    @cython.locals(size=Py_ssize_t, written=Py_ssize_t)
    cdef _do_write(self)
    cdef _process_outgoing(self)
    @cython.locals(state=int)
    cpdef _do_read(self)
    @cython.locals(count=Py_ssize_t, buffer=bytearray, eof=bint)
    cdef _do_read_copied(self)
    @cython.locals(offset=Py_ssize_t, count=Py_ssize_t, wants=Py_ssize_t)
    cdef _do_read_buffered(self)
    cdef _call_eof_received(self)
    cpdef Py_ssize_t write_buffer_size(self)
    @cython.locals(size=Py_ssize_t)
    cdef _control_app_writing(self)
    @cython.locals(size=Py_ssize_t)
    cdef _control_ssl_reading(self)
    cpdef _fatal_error(self, exc, str message=*)
