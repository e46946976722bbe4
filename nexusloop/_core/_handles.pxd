# Augmenting declarations for _handles.py (see that module's docstring).
cimport cython
from cpython.ref cimport PyObject

cdef extern from "Python.h":
    int PyContext_Enter(object ctx) except -1
    int PyContext_Exit(object ctx) except -1
    object PyContext_CopyCurrent()
    object PyContext_New()


# A context snapshot without a Context object (see "Contexts" in _handles.py). CPython's
# PyContext layout, identical in 3.11-3.14 (Include/internal/pycore_context.h); _handles.py
# checks it at import and copies contexts as asyncio does if it does not hold.
cdef extern from *:
    """
    /* The run helpers below are on every callback's path: inlined into their caller. */
    #if defined(__GNUC__) || defined(__clang__)
    #define NX_ALWAYS_INLINE inline __attribute__((always_inline))
    #else
    #define NX_ALWAYS_INLINE inline
    #endif

    typedef struct {
        PyObject_HEAD
        void *ctx_prev;
        PyObject *ctx_vars;
        PyObject *ctx_weakreflist;
        int ctx_entered;
    } __nx_context;

    /* The variables (an immutable HAMT) of the thread's current context; NULL when the
       thread has no context yet. Borrowed. */
    static inline PyObject *__nx_current_vars(void) {
        PyObject *ctx = PyThreadState_Get()->context;
        return ctx ? ((__nx_context *)ctx)->ctx_vars : NULL;
    }
    static inline PyObject *__nx_vars(PyObject *ctx) { return ((__nx_context *)ctx)->ctx_vars; }
    static inline int __nx_entered(PyObject *ctx) { return ((__nx_context *)ctx)->ctx_entered; }
    /* Replace a context's variables; returns the old ones (a new reference for the caller). */
    static inline PyObject *__nx_swap_vars(PyObject *ctx, PyObject *vars) {
        PyObject *old = ((__nx_context *)ctx)->ctx_vars;
        Py_INCREF(vars);
        ((__nx_context *)ctx)->ctx_vars = vars;
        return old;
    }

    /* callback(*args) through vectorcall on the tuple's items (no argument tuple unpacking
       or recursion bookkeeping of the generic call path). */
    static NX_ALWAYS_INLINE int __nx_call(PyObject *callback, PyObject *args) {
        PyObject *result;
        if (PyTuple_CheckExact(args)) {
            vectorcallfunc call = PyVectorcall_Function(callback);
            if (call) {
                result = call(callback, ((PyTupleObject *)args)->ob_item,
                              PyTuple_GET_SIZE(args), NULL);
            } else {
                result = PyObject_Call(callback, args, NULL);
            }
        } else {  /* as callback(*args) would: any iterable, else TypeError */
            PyObject *tuple = PySequence_Tuple(args);
            if (!tuple) return -1;
            result = PyObject_Call(callback, tuple, NULL);
            Py_DECREF(tuple);
        }
        if (!result) return -1;
        Py_DECREF(result);
        return 0;
    }

    /* The exception being raised, out of the thread state: a new reference with its
       traceback attached (the caller re-raises it where it handles it). */
    static PyObject *__nx_take_exception(void) {
    #if PY_VERSION_HEX >= 0x030C0000
        return PyErr_GetRaisedException();
    #else
        PyObject *type, *value, *tb;
        PyErr_Fetch(&type, &value, &tb);
        PyErr_NormalizeException(&type, &value, &tb);
        if (tb) {
            PyException_SetTraceback(value, tb);
            Py_DECREF(tb);
        }
        Py_XDECREF(type);
        return value;
    #endif
    }

    /* callback(*args) with `ctx` entered: 0, with *exc set to what the callback raised (a new
       reference, taken out of the thread state) or NULL; -1 with an exception set only if
       the context cannot be entered or left. Handle._run's hot path without a try block. */
    static NX_ALWAYS_INLINE int __nx_run_in(PyObject *ctx, PyObject *callback, PyObject *args, PyObject **exc) {
        *exc = NULL;
        if (PyContext_Enter(ctx) < 0) return -1;
        if (__nx_call(callback, args) < 0) *exc = __nx_take_exception();
        if (PyContext_Exit(ctx) < 0) {
            Py_CLEAR(*exc);
            return -1;
        }
        return 0;
    }

    /* The same in `scratch` (not entered) holding the variables `vars` for the run: returns
       the variables the run left (a new reference; `vars` itself if the callback set none),
       the scratch holding what it held before; NULL as __nx_run_in's -1. */
    static NX_ALWAYS_INLINE PyObject *__nx_run_snapshot(PyObject *scratch, PyObject *vars, PyObject *callback,
                                       PyObject *args, PyObject **exc) {
        __nx_context *c = (__nx_context *)scratch;
        PyObject *held = c->ctx_vars, *after;
        Py_INCREF(vars);
        c->ctx_vars = vars;
        if (__nx_run_in(scratch, callback, args, exc) < 0) {
            if (!c->ctx_entered) {
                after = c->ctx_vars;
                c->ctx_vars = held;
                Py_DECREF(after);
            }
            return NULL;
        }
        after = c->ctx_vars;
        c->ctx_vars = held;
        return after;
    }

    /* A new reference handed over to Cython as an object (no extra INCREF). */
    static inline PyObject *__nx_steal(PyObject *o) { return o; }
    """
    int _call "__nx_call"(object callback, object args) except -1
    int _run_in "__nx_run_in"(object ctx, object callback, object args, PyObject **exc) except -1
    object _run_snapshot "__nx_run_snapshot"(object scratch, object vars, object callback,
                                             object args, PyObject **exc)
    object _steal "__nx_steal"(PyObject *o)
    PyObject *_current_vars "__nx_current_vars"()
    PyObject *_vars_of "__nx_vars"(object ctx)
    bint _entered "__nx_entered"(object ctx)
    object _swap_vars "__nx_swap_vars"(object ctx, object vars)


# A list used as an array of slots (the loop's ready ring, the handle pool), without the
# generic item-assignment path (checks and a call each): callers keep indexes in range.
cdef extern from *:
    """
    static inline PyObject *__nx_slot_take(PyObject *slots, Py_ssize_t i) {
        PyObject *item = PyList_GET_ITEM(slots, i);  /* the list's reference goes to the caller */
        Py_INCREF(Py_None);
        PyList_SET_ITEM(slots, i, Py_None);
        return item;
    }
    static inline void __nx_slot_put(PyObject *slots, Py_ssize_t i, PyObject *item) {
        PyObject *old = PyList_GET_ITEM(slots, i);
        Py_INCREF(item);
        PyList_SET_ITEM(slots, i, item);
        Py_DECREF(old);  /* None: a slot is emptied when taken */
    }
    """
    object _slot_take "__nx_slot_take"(list slots, Py_ssize_t i)
    void _slot_put "__nx_slot_put"(list slots, Py_ssize_t i, object item)


cdef bint _snapshots  # the layout check passed: bare call_soon() stores variables, not a copy
cdef object _scratch  # the one Context object snapshot handles run in
cdef list _pool  # handles kept by _recycle() for _new_handle(): _pool[:_pooled]
cdef Py_ssize_t _pooled, _POOL_SIZE


cdef inline int _run_in_context(object context, object callback, object args) except -1:
    PyContext_Enter(context)
    try:
        _call(callback, args)
    finally:
        PyContext_Exit(context)
    return 0


@cython.locals(scratch=object, after=object, failure="PyObject *")
cdef int _run_in_scratch(Handle handle) except -1
cdef int _failed(Handle handle, object exc) except -1


cdef class WheelBase:
    cpdef _unlink(self, TimerHandle timer)


cdef class Handle:
    cdef public object _callback
    cdef public object _args
    cdef object _ctx   # the Context to run in (given, or materialized from _vars), or None
    cdef object _vars  # a snapshot of the caller's context variables (compiled), or None
    cdef public object _loop
    cdef public bint _cancelled
    cdef public object _repr
    cdef public object _source_traceback
    cdef public double _queued_at  # loop time of the tick that queued it (loop.stats())

    @cython.locals(failure="PyObject *")
    cpdef _run(self)
    cpdef _report(self, exc)
    cdef object _materialize(self)


cdef class TimerHandle(Handle):
    cdef public double _when
    cdef public long long _seq
    cdef public list _bucket
    cdef public Py_ssize_t _pos
    cdef public WheelBase _wheel
    cdef public bint _scheduled
    cdef unsigned long long _traversal  # the wheel traversal that last reported it


@cython.locals(vars="PyObject *")
cdef int _capture(Handle handle, object context) except -1


cdef int _recycle(Handle handle) except -1


@cython.locals(handle=Handle, snapshot="PyObject *")
cpdef Handle _new_handle(object loop, object callback, tuple args, object context)
@cython.locals(timer=TimerHandle)
cpdef TimerHandle _new_timer(double when, object loop, object callback, tuple args, object context)
