# Augmenting declarations for _park.py (see that module's docstring).

cdef class RecvPark:
    cdef public object loop
    cdef public object waiters
    cdef public bint parked
    cdef public bint wake_scheduled
    cpdef object prepare(self)
    cpdef drop(self, object fut)
    cpdef notify(self)
    cpdef wake(self)
    cpdef Py_ssize_t count(self) except -1


cdef class SendPark:
    cdef public object waiters
    cpdef notify_one(self)
    cpdef notify_all(self)
    cpdef bint remove(self, object waker) except -1
    cpdef pass_on(self, object waker)
    cpdef tuple thread_waiter(self)
    cpdef tuple task_waiter(self, object loop)
    cpdef Py_ssize_t count(self) except -1
