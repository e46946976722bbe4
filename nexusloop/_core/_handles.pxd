# Augmenting declarations for _handles.py (see that module's docstring).
cimport cython

cdef extern from "Python.h":
    int PyContext_Enter(object ctx) except -1
    int PyContext_Exit(object ctx) except -1


cdef inline int _run_in_context(object context, object callback, tuple args) except -1:
    PyContext_Enter(context)
    try:
        callback(*args)
    finally:
        PyContext_Exit(context)
    return 0


cdef class WheelBase:
    cpdef _unlink(self, TimerHandle timer)


cdef class Handle:
    cdef public object _callback
    cdef public object _args
    cdef public object _context
    cdef public object _loop
    cdef public bint _cancelled
    cdef public object _repr
    cdef public object _source_traceback
    cdef public double _queued_at  # loop time of the tick that queued it (loop.stats())

    cpdef _run(self)
    cpdef _report(self, exc)


cdef class TimerHandle(Handle):
    cdef public double _when
    cdef public long long _seq
    cdef public list _bucket
    cdef public Py_ssize_t _pos
    cdef public WheelBase _wheel
    cdef public bint _scheduled


@cython.locals(handle=Handle)
cpdef Handle _new_handle(object loop, object callback, tuple args, object context)
@cython.locals(timer=TimerHandle)
cpdef TimerHandle _new_timer(double when, object loop, object callback, tuple args, object context)
