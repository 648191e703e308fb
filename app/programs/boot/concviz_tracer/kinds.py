"""The kinds of event a traced program sends, and what each one carries.

A raw event is the tuple ``(t_ns, worker, pid, tid, kind, item, data)``:

- ``t_ns``: ``time.monotonic_ns()`` in the process that made it;
- ``worker``: a label: the process's name for its main thread (the program's
  ``MainProcess`` is ``main``), the thread's name for its other threads; in
  every process but the program's first one, prefixed ``"<process name>/"``
  (``"Process-1"``, ``"Process-1/Thread-2 (work)"``);
- ``pid`` = ``os.getpid()``, ``tid`` = ``threading.get_native_id()``;
- ``kind``: one of the names below;
- ``item``: the traced object's key for object events (``"<creator pid>.<n>"``,
  unique in the run and kept when the object is pickled into another
  process), else as stated below;
- ``data``: a dict of plain (marshal-able) values. It holds ``line`` (int)
  whenever the call came from the user's code, and ``file`` (relative to the
  run's directory) when that line is not in the main script.

A value shown as ``v`` is a short, safe repr of the item (at most about 80
characters; ``<TypeName>`` when its repr raises).

========================  ===================  =============================================
kind                      item                 data
========================  ===================  =============================================
proc                      None                 name, ppid, main (the program's first
                                               process), method ("fork", "spawn",
                                               "forkserver" or None), daemon
thread                    None                 name, daemon, ident, main (the process's
                                               main thread)
spawn                     child's name         pid, daemon, method, target (qualname or
                                               None), line
start_thread              thread's name        tid, daemon, target, line
join                      joined worker's      what ("process" or "thread"), pid or tid,
                          name                 timeout, line
joined                    joined worker's      alive (the timeout passed), exitcode
                          name                 (processes)
end                       None                 a thread's run ended: error (str or None);
                                               a process's main code ended:
                                               daemon_threads (names cut off)
exit                      None                 exitcode
reaped                    child's name         pid, exitcode, signal ("SIGTERM"... or
                                               None), cut_off (a daemon terminated at its
                                               parent's exit)
new                       object key           type, lib, name, line; as it applies:
                                               maxsize, value, parties, peer, duplex
put_wait                  queue key            timeout, size
put                       queue key            v, size (after)
full                      queue key            timeout
get_wait                  queue key            timeout, size
get                       queue key            v, size (after)
empty                     queue key            timeout
task_done                 queue key            unfinished
qjoin                     queue key            unfinished (before waiting)
qjoined                   queue key            -
acquire_wait              lock key             timeout
acquired                  lock key             value (semaphores), depth (RLock)
acquire_failed            lock key             timeout
released                  lock key             value (semaphores), depth (RLock)
set, clear                event key            -
wait                      event key            timeout (before waiting)
waited                    event key            result
cwait                     condition key        timeout
cwoke                     condition key        result
notify                    condition key        n (an int, or "all")
bwait                     barrier key          waiting (before this one), parties
bpassed                   barrier key          index
broken                    barrier key          -
send                      connection key       v
recv_wait                 connection key       -
recv                      connection key       v
submit                    pool key             task (run-unique id), fn, line
task_start                pool key             task, fn (in the worker that runs it)
task_end                  pool key             task, error (str or None)
sleep                     None                 s (seconds), line
out                       None                 text, stream ("stdout" or "stderr"), line
exc                       None                 error ("Type: message"), traceback, line
stdin_eof                 None                 line (input() was called; stdin is empty)
lost                      None                 events (how many this process dropped)
========================  ===================  =============================================

``new`` types: "Queue", "JoinableQueue", "SimpleQueue" (lib
"multiprocessing"); "Queue", "LifoQueue", "PriorityQueue", "SimpleQueue"
(lib "queue"); "Lock", "RLock", "Semaphore", "BoundedSemaphore", "Event",
"Condition", "Barrier" (lib "threading" or "multiprocessing"); "Connection"
(each end of a Pipe: peer = the other end's key, duplex); "Pool" (lib
"multiprocessing"); "ProcessPoolExecutor", "ThreadPoolExecutor" (lib
"concurrent.futures").

A call that may block and cannot go at once sends its ``*_wait`` event (and
flushes) before it blocks, then its result; a call that goes at once is one
event. ``size`` is None where the queue cannot tell (``qsize()`` is not
implemented on macOS).

Order: a process's ``proc`` comes before any other event of it, and a
thread's ``thread`` before any other event of that thread; the parent's
``spawn`` and ``start_thread`` reach the pipe before the child's first event.
"""

from __future__ import annotations

# Workers.
PROC = "proc"
THREAD = "thread"
SPAWN = "spawn"
START_THREAD = "start_thread"
JOIN = "join"
JOINED = "joined"
END = "end"
EXIT = "exit"
REAPED = "reaped"

# Objects.
NEW = "new"

# Queues.
PUT_WAIT = "put_wait"
PUT = "put"
FULL = "full"
GET_WAIT = "get_wait"
GET = "get"
EMPTY = "empty"
TASK_DONE = "task_done"
QJOIN = "qjoin"
QJOINED = "qjoined"

# Locks and semaphores (and a Condition's own lock).
ACQUIRE_WAIT = "acquire_wait"
ACQUIRED = "acquired"
ACQUIRE_FAILED = "acquire_failed"
RELEASED = "released"

# Event.
SET = "set"
CLEAR = "clear"
WAIT = "wait"
WAITED = "waited"

# Condition.
CWAIT = "cwait"
CWOKE = "cwoke"
NOTIFY = "notify"

# Barrier.
BWAIT = "bwait"
BPASSED = "bpassed"
BROKEN = "broken"

# Pipe connections.
SEND = "send"
RECV_WAIT = "recv_wait"
RECV = "recv"

# Pools and executors.
SUBMIT = "submit"
TASK_START = "task_start"
TASK_END = "task_end"

# The rest.
SLEEP = "sleep"
OUT = "out"
EXC = "exc"
STDIN_EOF = "stdin_eof"
LOST = "lost"

KINDS = frozenset(
    {
        PROC,
        THREAD,
        SPAWN,
        START_THREAD,
        JOIN,
        JOINED,
        END,
        EXIT,
        REAPED,
        NEW,
        PUT_WAIT,
        PUT,
        FULL,
        GET_WAIT,
        GET,
        EMPTY,
        TASK_DONE,
        QJOIN,
        QJOINED,
        ACQUIRE_WAIT,
        ACQUIRED,
        ACQUIRE_FAILED,
        RELEASED,
        SET,
        CLEAR,
        WAIT,
        WAITED,
        CWAIT,
        CWOKE,
        NOTIFY,
        BWAIT,
        BPASSED,
        BROKEN,
        SEND,
        RECV_WAIT,
        RECV,
        SUBMIT,
        TASK_START,
        TASK_END,
        SLEEP,
        OUT,
        EXC,
        STDIN_EOF,
        LOST,
    }
)

# Object types, by library (the `type` and `lib` of a `new` event).
MP_QUEUES = ("Queue", "JoinableQueue", "SimpleQueue")
QUEUE_QUEUES = ("Queue", "LifoQueue", "PriorityQueue", "SimpleQueue")
SYNC_TYPES = ("Lock", "RLock", "Semaphore", "BoundedSemaphore", "Event", "Condition", "Barrier")
