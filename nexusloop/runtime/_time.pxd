# Augmenting declarations for _time.py (see that module's docstring).
cimport cython

from nexusloop._core._loopcore cimport LoopCore

cdef object _get_running_loop, _get_running_loop_or_none, _Real, _floor
cdef object _asyncio_timeout, _asyncio_timeout_at, _POLICY_CODES
cdef int _BURST, _DELAY, _SKIP
cdef double _MISSED_TICK_TOLERANCE, _INDEX_LIMIT

cdef double _seconds(object value, str what) except? -1.0
cdef object _policy(object value)


cdef class _YieldNow:
    cdef bint _yielded


@cython.locals(core=LoopCore)
cpdef double event_time() except? -1.0


cdef class Interval:
    cdef object _loop
    cdef bint _core
    cdef double _period
    cdef double _anchor
    cdef double _index
    cdef double _deadline
    cdef int _policy
    cdef object _behavior
    cdef unsigned long long _generation
    cdef bint _waiting
    cdef object _waiter

    cdef _set_anchor(self, double anchor)
    @cython.locals(core=LoopCore)
    cdef double _now(self) except? -1.0
    @cython.locals(period=double, index=double)
    cdef _advance(self, double deadline, double now)
