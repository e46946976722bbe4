# Augmenting declarations for _cross.py (see that module's docstring).
from nexusloop.channels._park cimport RecvPark, SendPark


cdef class _Shared:
    cdef public object items
    cdef public object capacity
    cdef public Py_ssize_t limit
    cdef public Py_ssize_t senders
    cdef public bint receiver_open
    cdef public RecvPark rx
    cdef public SendPark tx
    cdef public object lock
    cdef public object count_lock
    cpdef drop_sender(self)
    cpdef drop_receiver(self)
    cpdef stats(self)


cdef class _SenderCore:
    cdef readonly _Shared _st
    cdef object _items
    cdef object _append
    cdef readonly bint _closed
    cdef object __weakref__
    cdef bint _put(self, object value) except -1
    cdef int _refuse(self, object value, str what) except -1
    cdef _release(self)


cdef class _ReceiverCore:
    cdef readonly _Shared _st
    cdef object _items
    cdef object _popleft
    cdef readonly bint _closed
    cdef object __weakref__
    cdef object _empty(self)
    cdef object _take(self)
