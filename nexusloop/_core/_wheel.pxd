# Augmenting declarations for _wheel.py (see that module's docstring for the design).
cimport cython
from cpython.mem cimport PyMem_Free, PyMem_Malloc
from cpython.ref cimport PyObject
from cpython.list cimport PyList_GET_ITEM, PyList_GET_SIZE

from nexusloop._core._handles cimport TimerHandle, WheelBase

cdef extern from *:
    int __builtin_ctzll(unsigned long long x) nogil
    int __builtin_clzll(unsigned long long x) nogil

cdef extern from *:
    """
    /* Prefetch the whole of a list item's object (a TimerHandle spans up to three lines). */
    static CYTHON_INLINE void __nexusloop_prefetch_item(PyObject *lst, Py_ssize_t i) {
        const char *p = (const char *)PyList_GET_ITEM(lst, i);
        __builtin_prefetch(p, 1, 3);
        __builtin_prefetch(p + 64, 1, 3);
        __builtin_prefetch(p + sizeof(PyObject *) * 16 - 1, 1, 3);
    }

    /* Move a list item's reference to the caller, leaving NULL (the list is cleared next). */
    static CYTHON_INLINE PyObject *__nexusloop_list_take(PyObject *lst, Py_ssize_t i) {
        PyObject *item = PyList_GET_ITEM(lst, i);
        PyList_SET_ITEM(lst, i, NULL);
        return item;
    }

    /* (when, seq) records sorted in C when a whole slot is due at once. */
    typedef struct { double when; long long seq; PyObject *obj; } __nexusloop_entry;
    static int __nexusloop_entry_cmp(const void *pa, const void *pb) {
        const __nexusloop_entry *a = (const __nexusloop_entry *)pa;
        const __nexusloop_entry *b = (const __nexusloop_entry *)pb;
        if (a->when != b->when) return a->when < b->when ? -1 : 1;
        return (a->seq > b->seq) - (a->seq < b->seq);
    }
    static void __nexusloop_sort_entries(__nexusloop_entry *entries, Py_ssize_t n) {
        qsort(entries, (size_t)n, sizeof(__nexusloop_entry), __nexusloop_entry_cmp);
    }
    """
    ctypedef struct _Entry "__nexusloop_entry":
        double when
        long long seq
        PyObject *obj
    void _sort_entries "__nexusloop_sort_entries" (_Entry *entries, Py_ssize_t n) nogil
    object _list_take "__nexusloop_list_take" (list lst, Py_ssize_t i)
    void _prefetch_item "__nexusloop_prefetch_item" (list lst, Py_ssize_t i) nogil

ctypedef _Entry *_EntryPtr

# Pending timers are not tracked by the garbage collector; the wheel reports their references
# instead (see "Timers and the garbage collector" in _wheel.py).
cdef extern from *:
    """
    static traverseproc __nx_wheel_own_traverse = NULL;
    static int (*__nx_wheel_pending)(PyObject *, visitproc, void *) = NULL;
    static int __nx_wheel_traverse(PyObject *o, visitproc visit, void *arg) {
        int r = __nx_wheel_own_traverse(o, visit, arg);
        return r ? r : __nx_wheel_pending(o, visit, arg);
    }
    static int __nx_wheel_install_traverse(PyObject *t,
                                           int (*pending)(PyObject *, visitproc, void *)) {
        if (__nx_wheel_own_traverse == NULL) {
            __nx_wheel_own_traverse = ((PyTypeObject *)t)->tp_traverse;
            __nx_wheel_pending = pending;
            ((PyTypeObject *)t)->tp_traverse = __nx_wheel_traverse;
        }
        return 0;
    }
    /* An object's own traverse (a TimerHandle's: every reference it holds). */
    static inline int __nx_traverse_of(PyObject *o, visitproc visit, void *arg) {
        return Py_TYPE(o)->tp_traverse(o, visit, arg);
    }
    static inline void __nx_gc_track(PyObject *o) {
        if (!PyObject_GC_IsTracked(o)) PyObject_GC_Track(o);
    }
    static inline void __nx_gc_untrack(PyObject *o) {
        if (PyObject_GC_IsTracked(o)) PyObject_GC_UnTrack(o);
    }
    """
    ctypedef int (*visitproc)(PyObject *, void *)
    ctypedef int (*_pending_fn)(PyObject *, visitproc, void *) noexcept
    int _install_traverse "__nx_wheel_install_traverse"(object t, _pending_fn pending)
    int _traverse_of "__nx_traverse_of"(PyObject *o, visitproc visit, void *arg) noexcept
    void _gc_track "__nx_gc_track"(object o)
    void _gc_untrack "__nx_gc_untrack"(object o)

cdef Py_ssize_t _LEVELS, _SLOT_BITS, _SLOTS, _SCAN_LIMIT, _PREFETCH
cdef long long _SLOT_MASK, _WHEEL_BITS
cdef double _TICK_LIMIT, _INF
cdef unsigned long long _ONE

cdef int _ctz64(unsigned long long x) noexcept nogil

@cython.locals(masked=cython.ulonglong)
cdef int _level_for(long long elapsed, long long tick) noexcept nogil


# not @cython.final: Cython 3.3 rejects a final class overriding a base cpdef from a .py
cdef class TimerWheel(WheelBase):
    cdef double _origin
    cdef double _res
    cdef double _inv_res
    # Last processed tick: every stored level timer has a later tick.
    cdef long long _elapsed
    cdef long long _seq
    cdef Py_ssize_t _count
    cdef public unsigned long long _cancelled_count  # timers unlinked by cancel() (loop.stats())
    # _LEVELS * _SLOTS lists; slot s of level k is _slots[k * 64 + s].
    cdef list _slots
    cdef list _near
    cdef list _overflow
    cdef list _never
    # Occupied slots, one 64-bit word per level.
    cdef unsigned long long _bitmap[6]
    # Counts the wheel's GC traversals (each pending timer is reported once per traversal).
    cdef unsigned long long _traversal

    @cython.locals(x=cython.double, tick=cython.longlong, bucket=list, elapsed=cython.longlong,
                   masked=cython.longlong, level=cython.int, slot=cython.longlong)
    cpdef insert(self, TimerHandle timer)

    @cython.locals(elapsed=cython.longlong, level=cython.int, slot=cython.longlong, bucket=list)
    cdef int _place(self, TimerHandle timer, long long tick) except -1

    @cython.locals(bucket=list, pos=Py_ssize_t, last=TimerHandle)
    cpdef _unlink(self, TimerHandle timer)

    @cython.locals(x=cython.double, tick=cython.longlong, level=cython.int, slot=cython.longlong,
                   index=Py_ssize_t)
    cdef int _clear_slot_bit(self, TimerHandle timer, list bucket) except -1

    @cython.locals(level=cython.int, bm=cython.ulonglong, slot=cython.longlong, shift=cython.int,
                   start=cython.longlong, bucket=list, first=TimerHandle)
    cpdef double next_deadline(self) except? -1.0

    @cython.locals(best=cython.double, when=cython.double, timer=TimerHandle)
    cdef double _min_when(self, list bucket) except? -1.0

    cdef double _tick_time(self, long long tick) noexcept

    @cython.locals(x=cython.double, target=cython.longlong, near=list, count=Py_ssize_t,
                   timer=TimerHandle)
    cpdef Py_ssize_t pop_expired(self, double now, list out) except -1

    @cython.locals(level=cython.int, bm=cython.ulonglong, slot=cython.longlong, shift=cython.int,
                   start=cython.longlong, bucket=list, timer=TimerHandle, x=cython.double,
                   size=Py_ssize_t, i=Py_ssize_t, emitted=Py_ssize_t,
                   tick=cython.longlong, origin=cython.double, inv_res=cython.double)
    cdef Py_ssize_t _advance(self, long long target, list out) except -1

    @cython.locals(near=list, count=Py_ssize_t)
    cdef Py_ssize_t _flush_near(self, list out) except -1

    @cython.locals(near=list, timer=TimerHandle, last=TimerHandle)
    cdef int _take_near_top(self, list out) except -1

    @cython.locals(size=Py_ssize_t, i=Py_ssize_t, timer=TimerHandle, entries=_EntryPtr)
    cdef Py_ssize_t _emit_sorted(self, list bucket, list out) except -1

    @cython.locals(origin=cython.double, inv_res=cython.double, first=cython.longlong,
                   x=cython.double, tick=cython.longlong, start=cython.longlong, pending=list,
                   timer=TimerHandle)
    cdef bint _advance_overflow(self, long long target) except -1

    @cython.locals(near=list)
    cdef int _push_near(self, TimerHandle timer) except -1

    @cython.locals(near=list, when=cython.double, seq=cython.longlong, parent_pos=Py_ssize_t,
                   parent=TimerHandle)
    cdef int _sift_up(self, TimerHandle timer, Py_ssize_t pos) except -1

    @cython.locals(near=list, size=Py_ssize_t, when=cython.double, seq=cython.longlong,
                   child_pos=Py_ssize_t, right_pos=Py_ssize_t, child=TimerHandle,
                   right=TimerHandle)
    cdef int _sift_down(self, TimerHandle timer, Py_ssize_t pos) except -1

    @cython.locals(near=list, last=TimerHandle, parent_pos=Py_ssize_t, parent=TimerHandle)
    cdef int _heap_remove(self, Py_ssize_t pos) except -1

    @cython.locals(timers=list, index=Py_ssize_t, level=cython.int, bucket=list,
                   timer=TimerHandle)
    cpdef list clear(self)

cdef inline int _visit_bucket(TimerWheel wheel, object bucket, visitproc visit,
                              void *arg) noexcept:
    # Report the references of the bucket's timers that are pending in this wheel, once per
    # traversal even if a timer were in two lists mid-move. Allocates nothing (GC is running).
    cdef Py_ssize_t i
    cdef PyObject *item
    cdef TimerHandle timer
    cdef int r
    if bucket is None:
        return 0
    for i in range(PyList_GET_SIZE(bucket)):
        item = PyList_GET_ITEM(bucket, i)
        timer = <TimerHandle>item
        if timer._wheel is not wheel or timer._traversal == wheel._traversal:
            continue
        timer._traversal = wheel._traversal
        r = _traverse_of(item, visit, arg)
        if r:
            return r
    return 0


cdef inline int _visit_pending(PyObject *o, visitproc visit, void *arg) noexcept:
    cdef TimerWheel wheel = <TimerWheel>o
    cdef Py_ssize_t i
    cdef int r
    wheel._traversal += 1
    r = _visit_bucket(wheel, wheel._near, visit, arg)
    if not r:
        r = _visit_bucket(wheel, wheel._overflow, visit, arg)
    if not r:
        r = _visit_bucket(wheel, wheel._never, visit, arg)
    if not r and wheel._slots is not None:
        for i in range(PyList_GET_SIZE(wheel._slots)):
            r = _visit_bucket(wheel, <object>PyList_GET_ITEM(wheel._slots, i), visit, arg)
            if r:
                break
    return r
