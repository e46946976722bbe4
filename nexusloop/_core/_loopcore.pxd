# Augmenting declarations for _loopcore.py (see that module's docstring).
cimport cython
from posix.time cimport clock_gettime, timespec, CLOCK_MONOTONIC

from nexusloop._core._handles cimport Handle, TimerHandle, _new_handle, _new_timer, _recycle
from nexusloop._core._handles cimport _run_in_scratch
from nexusloop._core._handles cimport _slot_take as _rq_take, _slot_put as _rq_put
from cpython.ref cimport Py_REFCNT as _refcount

from nexusloop._core._wheel cimport TimerWheel
from nexusloop._core._stats cimport Histogram


cdef extern from "Python.h":
    int _enter_context "PyContext_Enter"(object ctx) except -1
    int _exit_context "PyContext_Exit"(object ctx) except -1
    int _check_signals "PyErr_CheckSignals"() except -1
    # A deque's length is its object size (CPython's _collectionsmodule.c), read without
    # the call len() makes.
    Py_ssize_t _deque_len "Py_SIZE"(object deque)

from cpython.exc cimport PyErr_SetFromErrno
from libc.errno cimport errno as _c_errno, EINTR as _EINTR, ENOSYS as _ENOSYS, EPERM as _EPERM
from libc.math cimport ceil as _ceil


cdef extern from "sys/epoll.h" nogil:
    ctypedef union epoll_data_t:
        void *ptr
        int fd
        unsigned int u32
        unsigned long long u64
    cdef struct epoll_event:
        unsigned int events
        epoll_data_t data
    int _epoll_wait "epoll_wait"(int epfd, epoll_event *events, int maxevents, int timeout)


cdef extern from *:
    """
    #include <sys/syscall.h>
    #include <errno.h>
    #include <time.h>
    #include <unistd.h>
    /* epoll_pwait2(): epoll_wait() with a nanosecond timeout (Linux >= 5.11), as a raw system
       call (glibc wraps it only since 2.35). -1 with errno ENOSYS where the headers lack it. */
    static int nexus_epoll_wait_ns(int epfd, struct epoll_event *events, int maxevents,
                                   long long ns) {
    #ifdef SYS_epoll_pwait2
        struct timespec ts;
        ts.tv_sec = (time_t)(ns / 1000000000LL);
        ts.tv_nsec = (long)(ns % 1000000000LL);
        return (int)syscall(SYS_epoll_pwait2, epfd, events, maxevents, &ts, NULL, 0);
    #else
        errno = ENOSYS;
        return -1;
    #endif
    }
    """
    int _epoll_wait_ns "nexus_epoll_wait_ns"(int epfd, epoll_event *events, int maxevents,
                                              long long ns) nogil


# Ready fds taken per epoll_wait() (more stay ready for the next poll: epoll is level-triggered).
cdef enum:
    _MAX_EVENTS = 256


cdef inline int _errno() noexcept nogil:
    return _c_errno


cdef inline int _raise_errno() except -1:
    PyErr_SetFromErrno(OSError)
    return -1


cdef inline double _c_monotonic() noexcept:
    cdef timespec ts
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return <double>ts.tv_sec + <double>ts.tv_nsec * 1e-9


cdef int _POLLIN, _POLLOUT
cdef bint _ns_timeouts

cdef object _caller_stack(int pure_depth)


cdef class TransportTable:
    cdef dict _refs

    cpdef get(self, int fd, default=*)
    cpdef pop(self, int fd, default=*)
    cpdef list values(self)


cdef class Watcher:
    cdef public object _context

    cpdef _read_ready(self)
    cpdef _write_ready(self)


cdef class LoopCore:
    cdef list _rq
    cdef Py_ssize_t _rq_mask
    cdef Py_ssize_t _rq_head
    cdef Py_ssize_t _rq_tail
    cdef object _ts_queue
    cdef public TimerWheel _wheel
    cdef list _expired
    cdef public dict _readers
    cdef public dict _writers
    cdef public bint _closed
    cdef public bint _stopping
    cdef public bint _debug
    cdef public object _thread_id
    cdef public double _event_time
    cdef public Py_ssize_t _tasks_per_cycle
    cdef public Py_ssize_t _event_interval
    cdef public bint _busy_poll
    cdef public object _gc_control
    cdef public Histogram _h_tick
    cdef public Histogram _h_ready
    cdef public Histogram _h_timer
    cdef public Histogram _h_io
    cdef public unsigned long long _stat_io_events
    cdef public Py_ssize_t _gc_wait
    cdef public bint _timers_first
    cdef unsigned long long _last_poll_tick
    cdef bint _parked
    cdef bint _wake_pending
    cdef public object _current_handle
    cdef public object _task_factory
    cdef public object _spawner
    cdef public double slow_callback_duration
    cdef public double _clock_offset
    cdef public bint _virtual
    cdef public double _autojump
    cdef public unsigned long long _stat_ticks
    cdef public unsigned long long _stat_polls
    cdef public unsigned long long _stat_wakeups
    cdef public object _poller
    cdef int _epfd
    cdef epoll_event _events[_MAX_EVENTS]
    cdef public int _wake_rfd
    cdef public int _wake_wfd

    cdef inline double _now(self) noexcept
    cdef inline int _push(self, Handle handle) except -1
    @cython.locals(old=list, new=list, old_mask=Py_ssize_t, new_mask=Py_ssize_t, i=Py_ssize_t)
    cdef _grow(self)
    cpdef _check_closed(self)
    cpdef _check_callback(self, callback, str method)
    cpdef _check_thread(self)
    cpdef _write_to_self(self)
    cdef TimerHandle _call_at(self, when, callback, tuple args, context, str method)
    cdef _update_registration(self, int fd, int had)
    cdef int _mask_of(self, int fd)
    cdef Handle _add_io(self, dict table, fd, callback, tuple args)
    @cython.locals(old=object, had=int)
    cdef _set_io(self, dict table, int fileno, entry)
    cdef bint _remove_io(self, dict table, fd) except -1
    cdef bint _remove_fd(self, dict table, int fileno) except -1
    cpdef _watch_read(self, int fd, watcher)
    cpdef _watch_write(self, int fd, watcher)
    cpdef bint _unwatch_read(self, int fd) except -1
    cpdef bint _unwatch_write(self, int fd) except -1
    @cython.locals(count=int, i=int, behind=bint, polled=double)
    cdef _poll(self, double timeout, bint park)
    @cython.locals(ms=int, ns="long long", count=int, epfd=int, waited=bint,
                   events="epoll_event *")
    cdef int _epoll_wait(self, double timeout, bint park) except -1
    @cython.locals(entry=object)
    cdef _dispatch(self, int fd, int mask, bint behind)
    cdef _run_watcher(self, watcher, bint writable)
    cpdef _drain_wakeups(self)
    cdef _drain_threadsafe(self)
    @cython.locals(head=Py_ssize_t, end=Py_ssize_t, index=Py_ssize_t, mask=Py_ssize_t, handle=Handle,
                   rq=list, now=double, timer=TimerHandle, wheel=TimerWheel, expired=list,
                   parked=bint, tick=double, waiting=Py_ssize_t)
    cpdef _run_once(self)
    @cython.locals(timer=TimerHandle)
    cdef _run_expired_now(self, list expired)
    @cython.locals(deadline=double, timeout=double)
    cdef _park(self)
    @cython.locals(deadline=double, wait=double, gap=double, outside=int)
    cdef bint _park_virtual(self) except -1
    cpdef int _outside_activity(self) except -1
    @cython.locals(ntodo=Py_ssize_t, index=Py_ssize_t, handle=Handle, t0=double, dt=double)
    cdef _run_debug(self, Py_ssize_t ntodo)
    cpdef _warn_slow(self, Handle handle, double dt)
    @cython.locals(direct=bint)
    cpdef _run_forever_core(self)
    cpdef _close_core(self)
