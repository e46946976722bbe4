# Augmenting declarations for _bytes.py (see that module's docstring).
cimport cython
from cpython.buffer cimport PyBUF_SIMPLE, PyBuffer_Release, PyObject_GetBuffer
from cpython.bytearray cimport PyByteArray_AS_STRING
from libc.string cimport memcpy

from nexusloop.channels._park cimport RecvPark, SendPark


cdef int _check_size(object n, str what) except -1


cdef class _Shared:
    cdef public object ring
    cdef public object rw
    cdef public object ro
    cdef public long long[::1] words
    cdef char *base
    cdef public Py_ssize_t size
    cdef public Py_ssize_t head
    cdef public Py_ssize_t tail
    cdef public Py_ssize_t need
    cdef public Py_ssize_t committed
    cdef public Py_ssize_t taken
    cdef public Py_ssize_t senders
    cdef public bint receiver_open
    cdef public bint single
    cdef public object lock
    cdef public bint busy
    cdef public RecvPark rx
    cdef public SendPark room
    cdef public SendPark gate
    cdef public object count_lock
    cpdef bint try_lock(self) except -1
    cpdef unlock(self)
    cpdef wake_all(self)
    cpdef drop_sender(self)
    cpdef drop_receiver(self)
    cpdef stats(self)


cdef class BytesSender:
    cdef readonly _Shared _st
    cdef int _state
    cdef bint _locked
    cdef Py_ssize_t _pos
    cdef Py_ssize_t _n
    cdef object _view
    cdef readonly bint _closed
    cdef object __weakref__
    @cython.locals(size=Py_ssize_t, m=Py_ssize_t)
    cdef Py_ssize_t _total(self, object n) except -1
    cdef int _begin(self) except -1
    @cython.locals(st=_Shared, size=Py_ssize_t, tail=Py_ssize_t, used=Py_ssize_t,
                   off=Py_ssize_t, rest=Py_ssize_t)
    cdef Py_ssize_t _fit(self, Py_ssize_t total) except -2
    cdef int _refuse(self, object value) except -1
    cdef bint _lock_now(self) except -1
    cdef _unlock(self)
    @cython.locals(pos=Py_ssize_t)
    cdef Py_ssize_t _try_reserve(self, Py_ssize_t total, object value) except -2
    cdef int _check_deadlock(self) except -1
    @cython.locals(st=_Shared, pos=Py_ssize_t)
    cdef Py_ssize_t _reserve_blocking(self, Py_ssize_t total, object timeout,
                                      object value) except -2
    @cython.locals(start=Py_ssize_t)
    cdef object _open(self, Py_ssize_t pos, Py_ssize_t n)
    @cython.locals(st=_Shared)
    cdef _publish(self, Py_ssize_t pos, Py_ssize_t k)
    cdef _abandon(self)
    @cython.locals(st=_Shared, start=Py_ssize_t, buf=Py_buffer)
    cdef _copy(self, Py_ssize_t pos, object data, Py_ssize_t n)
    cdef _release(self)


cdef class BytesReceiver:
    cdef readonly _Shared _st
    cdef object _view
    cdef Py_ssize_t _held
    cdef readonly bint _closed
    cdef object __weakref__
    cdef _drop_held(self)
    @cython.locals(st=_Shared, size=Py_ssize_t, off=Py_ssize_t, room=SendPark)
    cdef Py_ssize_t _advance(self, Py_ssize_t head) except -1
    @cython.locals(st=_Shared, head=Py_ssize_t, size=Py_ssize_t, off=Py_ssize_t, h=Py_ssize_t,
                   start=Py_ssize_t)
    cdef object _take(self)
    cdef object _empty(self)
