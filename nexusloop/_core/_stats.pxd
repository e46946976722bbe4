# Augmenting declarations for _stats.py (see that module's docstring).
cimport cython
from libc.math cimport frexp

cdef int _SUB, _MIN_EXP, _MAX_EXP
cdef Py_ssize_t _NBUCKETS
cdef double _INF


@cython.final
cdef class Histogram:
    cdef long long _counts[106]
    cdef public long long _count
    cdef public double _sum
    cdef public double _max

    cpdef reset(self)
    @cython.locals(ns=double, m=double, e=int, index=Py_ssize_t)
    cpdef record(self, double seconds)
