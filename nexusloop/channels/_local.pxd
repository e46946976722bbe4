# Augmenting declarations for _local.py (see that module's docstring).
cimport cython

cdef class _State:
    cdef public list ring
    cdef public Py_ssize_t mask
    cdef public Py_ssize_t head
    cdef public Py_ssize_t tail
    cdef public object capacity
    cdef public Py_ssize_t limit
    cdef public Py_ssize_t claimed
    cdef public Py_ssize_t senders
    cdef public bint receiver_open
    cdef public object recv_waiters
    cdef public object send_waiters
    cdef public object loop
    @cython.locals(tail=Py_ssize_t)
    cdef push(self, object value)
    @cython.locals(ring=list, i=Py_ssize_t)
    cdef object pop(self)
    cpdef list items(self)
    cpdef grow(self)
    cpdef object bind(self)
    cpdef wake_receiver(self)
    cpdef wake_sender(self)
    cpdef wake_all(self, object waiters)
    cpdef drop_sender(self)
    cpdef drop_receiver(self)
    cpdef stats(self)


cdef class _SenderCore:
    cdef readonly _State _st
    cdef readonly bint _closed
    cdef object _pending
    cdef object __weakref__
    cdef _release(self)


cdef class _ReceiverCore:
    cdef readonly _State _st
    cdef readonly bint _closed
    cdef object __weakref__
