# Augmenting declarations for _datagram.py (see that module's docstring, "Compiled").
cimport cython
from cpython.bytes cimport PyBytes_FromStringAndSize, PyBytes_AS_STRING, PyBytes_GET_SIZE
from cpython.buffer cimport PyBuffer_Release, PyBUF_SIMPLE
from cpython.exc cimport PyErr_CheckSignals, PyErr_Clear, PyErr_SetFromErrno
from cpython.long cimport PyLong_AsLongAndOverflow
from cpython.unicode cimport PyUnicode_FromStringAndSize, PyUnicode_GET_LENGTH
from libc.errno cimport errno, EAGAIN, EINTR
from libc.string cimport memcmp, memcpy, memset, strlen

from nexusloop._core._loopcore cimport LoopCore, Watcher


cdef extern from "<sys/socket.h>" nogil:
    ctypedef unsigned int socklen_t
    ctypedef unsigned short sa_family_t
    cdef struct sockaddr:
        sa_family_t sa_family
        char sa_data[14]
    cdef struct sockaddr_storage:
        sa_family_t ss_family
    ssize_t _c_recvfrom "recvfrom"(int fd, void *buf, size_t n, int flags, sockaddr *addr,
                                   socklen_t *addrlen)
    ssize_t _c_sendto "sendto"(int fd, const void *buf, size_t n, int flags,
                               const sockaddr *addr, socklen_t addrlen)
    ssize_t _c_send "send"(int fd, const void *buf, size_t n, int flags)
    int _AF_INET "AF_INET"
    int _AF_INET6 "AF_INET6"


cdef extern from "<netinet/in.h>" nogil:
    cdef struct in_addr:
        unsigned int s_addr
    cdef struct in6_addr:
        unsigned char s6_addr[16]
    cdef struct sockaddr_in:
        sa_family_t sin_family
        unsigned short sin_port
        in_addr sin_addr
    cdef struct sockaddr_in6:
        sa_family_t sin6_family
        unsigned short sin6_port
        unsigned int sin6_flowinfo
        in6_addr sin6_addr
        unsigned int sin6_scope_id
    unsigned short _ntohs "ntohs"(unsigned short)
    unsigned short _htons "htons"(unsigned short)
    unsigned int _ntohl "ntohl"(unsigned int)
    unsigned int _htonl "htonl"(unsigned int)


cdef extern from "<arpa/inet.h>" nogil:
    const char *_inet_ntop "inet_ntop"(int af, const void *src, char *dst, socklen_t size)
    int _inet_pton "inet_pton"(int af, const char *src, void *dst)


cdef extern from "<errno.h>" nogil:
    int EWOULDBLOCK


cdef extern from *:
    """
    static inline void __nexusloop_set_errno(int value) { errno = value; }
    """
    void _set_errno "__nexusloop_set_errno"(int value) nogil


cdef extern from "Python.h":
    # Declared here without Cython's exception check: a failure means "use the socket method",
    # which then raises exactly what CPython raises.
    int _get_buffer "PyObject_GetBuffer"(object obj, Py_buffer *view, int flags)
    # Without Cython's check: the caller releases a buffer before it reports the error.
    int _check_signals "PyErr_CheckSignals"()
    int _audit "PySys_Audit"(const char *event, const char *fmt, ...)
    bint _is_compact_ascii "PyUnicode_IS_COMPACT_ASCII"(object s)
    const char *_ascii_data "PyUnicode_DATA"(object s)


# One receive buffer for every datagram transport: the GIL is held from recvfrom() until the
# datagram is copied out, so no two transports (or threads) can use it at once. Its size is
# _DEFAULT_MAX_SIZE (a transport with a larger max_size receives with recvfrom_into).
cdef char _RECV_BUF[262144]

cdef Py_ssize_t _READS_PER_EVENT, _PROBE_EVERY, _HEADER_SIZE


cdef class _DatagramCore(Watcher):
    cdef public object _transport
    cdef public LoopCore _loop
    cdef public object _sock
    cdef public int _fd
    cdef int _family
    cdef public object _protocol
    cdef public bint _protocol_connected
    cdef public object _address
    cdef public bint _connected
    cdef public Py_ssize_t _max_size
    cdef bint _raw_send
    cdef bint _raw_recv
    cdef bint _raw_addr
    cdef object _rview
    cdef bint _backlog
    cdef Py_ssize_t _quiet_events
    cdef public object _buffer
    cdef public Py_ssize_t _buffer_size
    cdef public Py_ssize_t _conn_lost
    cdef public bint _closing
    cdef public bint _paused
    cdef public bint _reading
    cdef public bint _writing
    cdef public bint _protocol_paused
    cdef public object _high_water
    cdef public object _low_water
    # The address of the last datagram received (the Python tuple and its sockaddr) and of the
    # last sendto() address converted: see "Addresses" in the module docstring.
    cdef object _rx_addr
    cdef sockaddr_storage _rx_sa
    cdef socklen_t _rx_salen
    cdef object _tx_addr
    cdef sockaddr_storage _tx_sa
    cdef socklen_t _tx_salen

    cpdef _read_ready(self)
    cpdef _write_ready(self)
    cpdef sendto(self, data, addr=*)
    cpdef bint is_closing(self)
    @cython.locals(budget=Py_ssize_t, received=Py_ssize_t)
    cdef _read_datagrams(self)
    cdef _flush_queue(self)
    @cython.locals(sent=int)
    cdef int _send(self, data, addr) except -1
    cdef _stop_reading(self)
    cdef _stop_writing(self)
    cdef _maybe_pause_protocol(self)
    cdef _maybe_resume_protocol(self)
    cdef _report_callback_error(self, exc, str method)
    cpdef _fatal_error(self, exc, str message=*)
    cpdef _force_close(self, exc)


# ------------------------------------------------------------------------ receiving


cdef inline object _ipv4_str(const unsigned char *b):
    """The dotted-quad text of the IPv4 address at ``b`` (network order), as inet_ntop() writes
    it (glibc formats it with sprintf, a tenth of a round trip's instructions)."""
    cdef char text[16]
    cdef int pos = 0
    cdef int i, v
    for i in range(4):
        v = b[i]
        if v >= 100:
            text[pos] = 48 + v // 100
            text[pos + 1] = 48 + (v // 10) % 10
            pos += 2
        elif v >= 10:
            text[pos] = 48 + v // 10
            pos += 1
        text[pos] = 48 + v % 10
        pos += 1
        if i < 3:
            text[pos] = 46  # '.'
            pos += 1
    return PyUnicode_FromStringAndSize(text, pos)


cdef inline object _make_address(sockaddr_storage *sa, socklen_t salen):
    """The Python address of ``sa`` exactly as socket.recvfrom() returns it."""
    cdef sockaddr_in *sin
    cdef sockaddr_in6 *sin6
    cdef char text[64]
    if salen == 0:
        return None  # no address (CPython's makesockaddr)
    if sa.ss_family == _AF_INET:
        sin = <sockaddr_in *>sa
        return (_ipv4_str(<const unsigned char *>&sin.sin_addr), <int>_ntohs(sin.sin_port))
    if sa.ss_family == _AF_INET6:
        sin6 = <sockaddr_in6 *>sa
        if _inet_ntop(_AF_INET6, &sin6.sin6_addr, text, sizeof(text)) == NULL:
            PyErr_SetFromErrno(OSError)
        return (text.decode("ascii"), <int>_ntohs(sin6.sin6_port), _ntohl(sin6.sin6_flowinfo),
                sin6.sin6_scope_id)
    return ((<sockaddr *>sa).sa_family,
            PyBytes_FromStringAndSize((<sockaddr *>sa).sa_data, 14))


cdef inline object _recv_datagram(_DatagramCore core):
    """recvfrom() on the core's socket into the static buffer: the datagram as ``bytes``, its
    address left in ``core._rx_addr``; ``None`` when no datagram is waiting (EAGAIN: no
    exception object is made). Other errors raise the OSError subclass that socket.recvfrom()
    raises; EINTR runs the signal handlers and retries, as the socket module does (PEP 475)."""
    cdef sockaddr_storage sa
    cdef socklen_t salen
    cdef ssize_t n
    cdef int err
    while True:
        salen = sizeof(sa)
        n = _c_recvfrom(core._fd, _RECV_BUF, <size_t>core._max_size, 0, <sockaddr *>&sa, &salen)
        if n >= 0:
            break
        err = errno
        if err == EINTR:
            PyErr_CheckSignals()
            continue
        if err == EAGAIN or err == EWOULDBLOCK:
            return None
        PyErr_SetFromErrno(OSError)
    data = PyBytes_FromStringAndSize(_RECV_BUF, n)
    if salen > sizeof(sa):
        salen = sizeof(sa)
    # The same peer as the last datagram (one peer per connected socket, a burst from one
    # client on a server): the same address object, nothing to allocate.
    if salen != core._rx_salen or memcmp(&sa, &core._rx_sa, salen) != 0:
        core._rx_addr = _make_address(&sa, salen)
        memcpy(&core._rx_sa, &sa, salen)
        core._rx_salen = salen
    return data


# -------------------------------------------------------------------------- sending


cdef inline bint _small_uint(object value, unsigned long limit, unsigned long *out):
    """Store ``value`` in ``out`` when it is an int in [0, limit]; else false (no exception)."""
    cdef int overflow = 0
    cdef long v
    if type(value) is not int:
        return False
    v = PyLong_AsLongAndOverflow(value, &overflow)
    if overflow or v < 0 or <unsigned long>v > limit:
        return False
    out[0] = <unsigned long>v
    return True


cdef inline bint _inet_sockaddr(int family, object addr, sockaddr_storage *sa,
                                socklen_t *salen) except -1:
    """Convert ``addr`` to a sockaddr of ``family`` (AF_INET or AF_INET6) when it is
    ``(numeric_ip_str, int_port[, flowinfo[, scope_id]])`` with values socket.sendto() accepts
    as they are; false for anything else (host names, bytes, out-of-range numbers, other
    shapes), which the caller leaves to socket.sendto(): it resolves names and raises exactly
    as CPython does."""
    cdef Py_ssize_t size
    cdef unsigned long port, flowinfo = 0, scope_id = 0
    cdef const char *host_chars
    cdef sockaddr_in *sin
    cdef sockaddr_in6 *sin6
    if type(addr) is not tuple:
        return False
    size = len(<tuple>addr)
    if family == _AF_INET:
        if size != 2:
            return False
    elif size < 2 or size > 4:
        return False
    host = (<tuple>addr)[0]
    if type(host) is not str or not _is_compact_ascii(host):
        return False
    host_chars = _ascii_data(host)
    if strlen(host_chars) != <size_t>PyUnicode_GET_LENGTH(host):
        return False  # an embedded NUL: socket.sendto() raises
    if not _small_uint((<tuple>addr)[1], 0xffff, &port):
        return False
    if family == _AF_INET:
        sin = <sockaddr_in *>sa
        memset(sin, 0, sizeof(sockaddr_in))
        if _inet_pton(_AF_INET, host_chars, &sin.sin_addr) != 1:
            return False
        sin.sin_family = _AF_INET
        sin.sin_port = _htons(<unsigned short>port)
        salen[0] = sizeof(sockaddr_in)
        return True
    if size > 2 and not _small_uint((<tuple>addr)[2], 0xfffff, &flowinfo):
        return False
    if size > 3 and not _small_uint((<tuple>addr)[3], 0xffffffff, &scope_id):
        return False
    sin6 = <sockaddr_in6 *>sa
    memset(sin6, 0, sizeof(sockaddr_in6))
    if _inet_pton(_AF_INET6, host_chars, &sin6.sin6_addr) != 1:
        return False  # also a zone index ("fe80::1%eth0"), which getaddrinfo() maps
    sin6.sin6_family = _AF_INET6
    sin6.sin6_port = _htons(<unsigned short>port)
    sin6.sin6_flowinfo = _htonl(<unsigned int>flowinfo)
    sin6.sin6_scope_id = <unsigned int>scope_id
    salen[0] = sizeof(sockaddr_in6)
    return True


cdef inline int _send_datagram(_DatagramCore core, object data, object addr) except -2:
    """send() (connected) or sendto() ``data`` as one datagram with raw system calls.

    1: sent; 0: the kernel would block (EAGAIN: no exception object is made); -1: not done,
    the caller uses the socket's own method (a buffer that is not simple and contiguous, an
    address that is not a numeric IP tuple, a family other than AF_INET/AF_INET6), so that
    name resolution and every error are CPython's. Other errors raise the OSError subclass
    the socket method raises; EINTR runs the signal handlers and retries, as CPython does.
    The ``socket.sendto`` audit event is raised as socket.sendto() raises it.
    """
    cdef Py_buffer view
    cdef bint release = False
    cdef const char *buf
    cdef Py_ssize_t size
    cdef const sockaddr *sa = NULL
    cdef socklen_t salen = 0
    cdef ssize_t n
    cdef int err
    if type(data) is bytes:
        buf = PyBytes_AS_STRING(data)
        size = PyBytes_GET_SIZE(data)
    else:
        if _get_buffer(data, &view, PyBUF_SIMPLE) < 0:
            PyErr_Clear()
            return -1
        release = True
        buf = <const char *>view.buf
        size = view.len
    if not core._connected:
        if addr is core._rx_addr and addr is not None:
            # Replying to the sender of the last datagram: its sockaddr is at hand.
            sa = <const sockaddr *>&core._rx_sa
            salen = core._rx_salen
        elif addr is core._tx_addr and addr is not None:
            sa = <const sockaddr *>&core._tx_sa
            salen = core._tx_salen
        elif core._raw_addr and _inet_sockaddr(core._family, addr, &core._tx_sa,
                                               &core._tx_salen):
            core._tx_addr = addr
            sa = <const sockaddr *>&core._tx_sa
            salen = core._tx_salen
        else:
            if release:
                PyBuffer_Release(&view)
            return -1
        if _audit("socket.sendto", "OO", <void *>core._sock, <void *>addr) < 0:
            if release:
                PyBuffer_Release(&view)
            return -2
    while True:
        if sa == NULL:
            n = _c_send(core._fd, buf, <size_t>size, 0)
        else:
            n = _c_sendto(core._fd, buf, <size_t>size, 0, sa, salen)
        if n >= 0:
            break
        err = errno
        if err == EINTR:
            if _check_signals() < 0:
                if release:
                    PyBuffer_Release(&view)
                return -2
            continue
        break
    if release:
        PyBuffer_Release(&view)
    if n >= 0:
        return 1
    if err == EAGAIN or err == EWOULDBLOCK:
        return 0
    _set_errno(err)  # (releasing the buffer may have changed it)
    PyErr_SetFromErrno(OSError)
    return -2  # not reached: PyErr_SetFromErrno raised
