# Augmenting declarations for _task.py (see that module's docstring).
cimport cython

from cpython.ref cimport PyObject, Py_XDECREF, Py_REFCNT
from nexusloop._core._handles cimport Handle, _new_handle, _run_in_context

cdef extern from "Python.h":
    # PYGEN_RETURN (0), PYGEN_NEXT (1), PYGEN_ERROR (-1, exception set)
    int _PyIter_Send "PyIter_Send"(object iterator, object arg, PyObject **presult) except -1


cdef inline object _coro_send(object coro, bint *returned):
    """``coro.send(None)``; ``returned[0]`` tells a return (the value) from a yield."""
    cdef PyObject *res = NULL
    returned[0] = _PyIter_Send(coro, None, &res) == 0
    value = <object>res
    Py_XDECREF(res)
    return value


cdef inline Py_ssize_t _refcount(object obj):
    return Py_REFCNT(obj)
from nexusloop._core._loopcore cimport LoopCore

cdef int _PENDING, _CANCELLED, _FINISHED, _FREE
cdef int _OUT_NONE, _OUT_RESULT, _OUT_ERROR
cdef object _enter_task, _leave_task, _register_task, _get_running_loop, _CoroutineType
cdef Py_ssize_t _SWEEP_AFTER
cdef unsigned long long _task_count
cdef bint _is_coroutine(object obj) except -1


cdef class RuntimeTask:
    cdef object __weakref__
    cdef public object _loop
    cdef public TaskOwner _owner
    cdef public int _st
    cdef public unsigned long long _generation
    cdef public object _result
    cdef public object _exception
    cdef public bint _log_traceback
    cdef public object _cancel_message
    cdef public object _cancelled_exc
    cdef public bint _asyncio_future_blocking
    cdef object _cb_fn
    cdef object _cb_ctx
    cdef list _callbacks
    cdef bint _callbacks_queued
    cdef public object _coro
    cdef public object _context
    cdef object _name
    cdef unsigned long long _name_id
    cdef public object _fut_waiter
    cdef public bint _must_cancel
    cdef public int _num_cancels_requested
    cdef public bint _detached
    cdef public bint _released
    cdef public Py_ssize_t _release_tick
    cdef public object _source_traceback
    cdef public bint _log_destroy_pending

    @cython.locals(core=LoopCore, handle=Handle)
    cdef _schedule_step(self, exc)
    cdef _step(self, exc)
    cdef _wakeup(self, future)
    @cython.locals(returned=bint)
    cdef _step_run(self, exc)
    cdef _coro_returned(self, value)
    cdef _handle_yield(self, result)
    @cython.locals(core=LoopCore, handle=Handle)
    cdef _finish(self, int state, result, exception)
    cdef _run_callbacks(self)
    cdef _run_callback(self, fn, ctx)
    cdef _release(self)


@cython.locals(task=RuntimeTask)
cdef RuntimeTask _new_runtime_task(TaskOwner owner, object loop)
cdef _start(RuntimeTask task, object coro, object name, object context)
cdef _reset(RuntimeTask task)


cdef class JoinHandle:
    cdef RuntimeTask _task
    cdef unsigned long long _generation
    cdef int _outcome
    cdef object _value

    cdef RuntimeTask _live_task(self)
    @cython.locals(task=RuntimeTask)
    cdef _collect(self)
    cdef _deliver(self)


@cython.locals(handle=JoinHandle)
cdef JoinHandle _new_join_handle(RuntimeTask task)


cdef class TaskOwner:
    cdef public object _loop
    cdef public object _context

    cdef _task_done(self, RuntimeTask task)
    cdef _task_released(self, RuntimeTask task)


cdef bint _referenced_elsewhere(RuntimeTask task) except -1


cdef class TaskPool(TaskOwner):
    cdef public Py_ssize_t _capacity
    cdef public Py_ssize_t _in_use
    cdef public Py_ssize_t _made
    cdef public set _all
    cdef public list _free
    cdef public list _released
    cdef public Py_ssize_t _rel_head
    cdef public Py_ssize_t _rel_tail
    cdef public bint _sweep_queued
    cdef public object _claim_waiters

    cdef RuntimeTask _make(self)
    cdef bint _take_slot(self) except -1
    cdef _return_slot(self)
    @cython.locals(free=list, task=RuntimeTask, core=LoopCore)
    cdef RuntimeTask _task_for_slot(self)
    @cython.locals(core=LoopCore, released=list, mask=Py_ssize_t)
    cdef _task_released(self, RuntimeTask task)
    @cython.locals(released=list, task=RuntimeTask, mask=Py_ssize_t, head=Py_ssize_t,
                   tail=Py_ssize_t)
    cdef _sweep(self, Py_ssize_t before)
    @cython.locals(old=list, new=list, old_mask=Py_ssize_t, new_mask=Py_ssize_t, i=Py_ssize_t)
    cdef list _grow_released(self)


cdef class SlabClaim:
    cdef TaskPool _pool


@cython.locals(claim=SlabClaim)
cdef SlabClaim _new_claim(TaskPool pool)


cdef class Spawner(TaskOwner):
    cdef public Py_ssize_t _slab_capacity
    cdef public TaskPool _pool
    cdef public set _running

    cpdef TaskPool _get_pool(self)
    cpdef JoinHandle spawn(self, coro, name, context)
    @cython.locals(pool=TaskPool, task=RuntimeTask)
    cpdef JoinHandle spawn_slab(self, coro, name, context)


@cython.locals(spawner=Spawner)
cdef Spawner _loop_spawner(LoopCore core)
@cython.locals(core=LoopCore)
cdef Spawner _spawner(object coro, str what)
@cython.locals(core=LoopCore, spawner=Spawner)
cdef TaskPool _running_pool(str what)
