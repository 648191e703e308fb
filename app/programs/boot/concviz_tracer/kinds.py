"""The kinds of event a traced program sends, and what each one carries.

A raw event is the tuple ``(t_ns, worker, pid, tid, kind, item, data)``:

- ``t_ns``: ``time.monotonic_ns()`` in the process that made it (system-wide
  on Linux: stamps of different processes compare). Order events by it:
  batches of different processes arrive out of step;
- ``worker``: a label: the process's name for its main thread (the program's
  first process is ``main``), the thread's name for its other threads; in
  every process but the first, prefixed ``"<process label>/"``
  (``"Process-1"``, ``"Process-1/Thread-2 (work)"``). Labels are unique: a
  second thread of a process, or a second child of a parent, with a name in
  use gets ``" #2"`` (``"worker #2"``); the names in `proc` and `thread`
  stay the program's own;
- ``pid`` = ``os.getpid()``, ``tid`` = ``threading.get_native_id()``;
- ``kind``: one of the names below;
- ``item``: the traced object's key for object events (``"<creator pid>.<n>"``,
  unique in the run and kept when the object is pickled into another
  process; ``"redis:..."`` for a Redis key, see below), a worker label
  for worker events, else None;
- ``data``: a dict of plain (marshal-able) values. It holds ``line`` (int)
  whenever the call came from the user's code, and ``file`` (relative to the
  run's directory) when that line is not in the main script.

A value shown as ``v`` is a short, safe repr of the item (at most 80
characters; ``<TypeName>`` when its repr raises).

========================  ===================  =============================================
kind                      item                 data
========================  ===================  =============================================
proc                      None                 name, ppid (the process that started it),
                                               main (the program's first process), method
                                               ("fork", "spawn", "forkserver" or None),
                                               daemon
thread                    None                 name, daemon, ident, main (the process's
                                               main thread)
spawn                     child's label        pid, daemon, method, target (qualname or
                                               None), line
start_thread              thread's label       tid, daemon, target, line
join                      joined worker's      what ("process" or "thread"), pid or tid,
                          label                timeout, line
joined                    joined worker's      alive (the timeout passed), exitcode
                          label                (processes)
end                       None                 a thread's run ended: error (str or None);
                                               a process's main code ended (threading's
                                               shutdown begins): daemon_threads (labels
                                               of the daemon threads still running, cut
                                               off)
exit                      None                 exitcode (the program's first process: from
                                               sys.exit() or an uncaught exception; its
                                               real status is the server's to read)
reaped                    child's label        pid, exitcode, signal ("SIGTERM"... or
                                               None), cut_off (a daemon terminated at its
                                               parent's exit)
new                       object key           type, lib, name, line; as it applies:
                                               maxsize, value, parties, peer, duplex,
                                               workers; a Value's or Array's lock:
                                               guards ("counter.value", "cells[:]"),
                                               shows (what it holds, see released)
put_wait                  queue key            timeout, size
put                       queue key            v, size (after)
full                      queue key            timeout (0: it was not to block)
get_wait                  queue key            timeout, size
get                       queue key            v, size (after)
empty                     queue key            timeout (0: it was not to block)
xgroup                    stream key           group, start (the id it reads from; Redis)
ack                       stream key           ids (list of str), group, acked (how many
                                               were pending: the reply)
claim                     stream key           ids (the entries now owned), group,
                                               consumer (the new owner), min_idle_ms
task_done                 queue key            unfinished (after)
qjoin                     queue key            unfinished (before waiting)
qjoined                   queue key            -
acquire_wait              lock key             timeout
acquired                  lock key             value (semaphores), depth (RLock)
acquire_failed            lock key             timeout (0: it was not to block)
released                  lock key             value (semaphores), depth (RLock), shows
                                               (a Value's or Array's lock: what the value
                                               holds, read before the lock is let go)
set, clear                event key            -
wait                      event key            timeout (only when it will wait: not set)
waited                    event key            result
cwait                     condition key        timeout
cwoke                     condition key        result
notify                    condition key        n (an int, or "all")
bwait                     barrier key          waiting (before this one), parties
bpassed                   barrier key          index
broken                    barrier key          -
send                      connection key       v
send_wait                 connection key       bytes, line: after a send of more than a
                                               pipe holds (64 KiB); its writing waits
                                               for the other end to read
sent                      connection key       line: a send_wait's message is all written
recv_wait                 connection key       -
recv                      connection key       v
pool_worker               pool key             - (a multiprocessing pool's worker, process
                                               or thread, has started: it waits for a task)
submit                    pool key             task (run-unique id), fn, line; call (a task
                                               given alone, by apply_async or submit: its
                                               call, as task_start says it)
task_start                pool key             task, fn (in the worker that runs it)
task_end                  pool key             task, error (str or None)
result_wait               pool key             task (a map's: its base), fn, timeout, line:
                                               a wait for a task's result (Future.result,
                                               AsyncResult.get, Pool.map) that is not
                                               ready yet
result_got                pool key             task, fn, ready (False: it timed out), line
terminate                 pool key             line, workers ([pid, name] of each worker
                                               process): Pool.terminate() (the end of its
                                               with block too): its workers end now, and no
                                               task not started yet will run
cancelled                 pool key             task, fn: a future cancelled before its task
                                               ran (Future.cancel, shutdown(cancel_futures))
sleep                     None                 s (seconds), line
loop_wait                 None                 io (files watched besides its own), line,
                                               timer (seconds to its next, if 0.05 or
                                               more): an asyncio loop waits with
                                               nothing ready
loop_woke                 None                 - (it has something to run again)
sock_wait                 socket key           op ("accept", "recv", "sendall"...), timeout,
                                               line: a blocking call on a socket that
                                               cannot go on yet
sock_woke                 socket key           op; bytes (what a recv got: 0 is the other
                                               end closed) or error
fd_wait                   None                 op ("os.read", "os.write", "select",
                                               "input"), line;
                                               fd and what ("pipe": anonymous, "fifo",
                                               "tty", "socket") or files (select's count)
                                               and timeout: a call that cannot go on yet
fd_woke                   None                 op
changed                   object key           op (the method: "__setitem__", "append"...),
                                               shows (what it holds now, short), line: a
                                               Manager's dict, list, Value, Array or
                                               Namespace changed
shm_open                  "shm:" + segment     type ("SharedMemory" or "ShareableList"),
                                               lib, name (the user's variable), segment
                                               (its name in /dev/shm), size (bytes),
                                               created (False: opened by its name), line
shm_close                 "shm:" + segment     line: this process let go of its mapping
shm_unlink                "shm:" + segment     line: the segment's name is gone (its memory
                                               stays while a process maps it)
out                       None                 text, stream ("stdout" or "stderr"), line,
                                               into (not the screen: "pipe", "file"...),
                                               at (the run's output file's size: what was
                                               written past Python before it)
exc                       None                 error ("Type: message"), traceback, line
stdin_eof                 None                 line (input() was called; stdin is empty)
signal                    None                 signal ("SIGALRM"...), handled (a function of
                                               the user's now handles it; False: the default
                                               or ignored again), line
lost                      None                 events (how many this process dropped)
renamed                   thread's label       name (its new name: ``Thread.name = ...``
                                               in the user's code while it runs)
wants                     object key, a        kind (the action: "acquire", "put",
                          worker's label or    "sleep", "start"...), line (step mode: the
                          None                 thread waits for its permit; `gate`)
========================  ===================  =============================================

``new`` types: "Queue", "JoinableQueue", "SimpleQueue" (lib
"multiprocessing"); "Queue", "LifoQueue", "PriorityQueue", "SimpleQueue"
(lib "queue"); "Lock", "RLock", "Semaphore", "BoundedSemaphore", "Event",
"Condition", "Barrier" (lib "threading" or "multiprocessing"); "Connection"
(each end of a Pipe: peer = the other end's key, duplex); "socket" (lib
"socket", made when it first waits: family, local and peer addresses); "Pool",
"ThreadPool" (lib "multiprocessing"); "ProcessPoolExecutor",
"ThreadPoolExecutor" (lib "concurrent.futures"); "RedisList",
"RedisStream" (lib "redis"). Pools and executors have ``workers``.

Redis (redis-py's ``Redis``, see ``redisq``): a Redis key used as a queue
has the key ``"redis:<addr>/<db>/<redis key>"`` (addr ``host:port`` as the
client was given it, or the unix socket's path): the same in every process,
and each process sends its own ``new`` (name: the Redis key) the first time
it meets it. Lists: LPUSH/RPUSH(X) make a ``put`` per value with ``end``
("head" or "tail") and ``size`` the reply's; LPOP/RPOP a ``get`` (``end``,
size None) or ``empty`` (timeout 0); BLPOP/BRPOP a ``get_wait`` (timeout,
None for 0; ``end``) on each key before blocking, then ``get`` on the key
that answered or ``empty``; LMOVE/BLMOVE/RPOPLPUSH/BRPOPLPUSH a ``get`` on
the source and a ``put`` on the destination. Streams: XGROUP CREATE makes
``xgroup``; XADD a ``put`` with ``id`` (the entry's) and size None, ``v``
its fields; XREADGROUP with BLOCK a ``get_wait`` (timeout, group, consumer)
on each stream read with ">", then a ``get`` per entry (v, id, group,
consumer, ``again``: it re-read its own pending entries), or ``empty``
(timeout, group, consumer) when BLOCK's time was up; XACK makes ``ack``;
XAUTOCLAIM and XCLAIM make ``claim`` when they hand over an entry. Not
traced: pipelines and transactions, ``redis.asyncio``, ``RedisCluster``.

Objects made by the library on its own behalf (the mutex inside a
``queue.Queue``, a pool's queues) are not traced, and a process or thread
shows only once user code runs in it (a pool's workers, not a queue's
feeder thread; never the forkserver or the resource tracker). `reaped` may
name a child that never showed (a pool's worker that ran no task).

A call that may block and cannot go at once records its ``*_wait`` event
before it blocks, then its outcome; a call that goes at once is one event.
A wait is flushed to the server once it has lasted a millisecond (most waits
in a fast program are shorter; see ``waits.py``). ``size`` is None where the
queue cannot tell (a multiprocessing SimpleQueue; ``qsize()`` on macOS). A
condition's lock events are on the condition's key when the lock is its own;
a lock the user made and gave it reports on its own key.

Order: a process's ``proc`` comes before any other event of it, and a
thread's ``thread`` before any other event of that thread; the parent's
``spawn`` and ``start_thread`` reach the FIFO before the child's first event.
Stamps are taken so that causes come first: a ``put`` (and ``send``,
``released``, ``set``, ``task_done``) is stamped before it takes effect, a
``get`` (and ``recv``, ``acquired``) after.
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

# Redis streams' consumer groups (their puts and gets are a queue's).
XGROUP = "xgroup"
ACK = "ack"
CLAIM = "claim"

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
SEND_WAIT = "send_wait"
SENT = "sent"
RECV_WAIT = "recv_wait"
RECV = "recv"

# Pools and executors.
SUBMIT = "submit"
POOL_WORKER = "pool_worker"
TASK_START = "task_start"
TASK_END = "task_end"
RESULT_WAIT = "result_wait"
RESULT_GOT = "result_got"
CANCELLED = "cancelled"
TERMINATE = "terminate"

# The rest.
SLEEP = "sleep"
OUT = "out"
EXC = "exc"
STDIN_EOF = "stdin_eof"
SIGNAL = "signal"
EVENT_LOOP = "event_loop"  # an asyncio loop runs here (its tasks are not drawn)
LOOP_WAIT = "loop_wait"
LOOP_WOKE = "loop_woke"
SOCK_WAIT = "sock_wait"
SOCK_WOKE = "sock_woke"
FD_WAIT = "fd_wait"
FD_WOKE = "fd_woke"
CHANGED = "changed"
SHM_OPEN = "shm_open"
SHM_CLOSE = "shm_close"
SHM_UNLINK = "shm_unlink"
LOST = "lost"
WANTS = "wants"
RENAMED = "renamed"

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
        XGROUP,
        ACK,
        CLAIM,
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
        SEND_WAIT,
        SENT,
        RECV_WAIT,
        RECV,
        SUBMIT,
        POOL_WORKER,
        TASK_START,
        TASK_END,
        RESULT_WAIT,
        RESULT_GOT,
        CANCELLED,
        TERMINATE,
        SLEEP,
        OUT,
        EXC,
        STDIN_EOF,
        SIGNAL,
        EVENT_LOOP,
        LOOP_WAIT,
        LOOP_WOKE,
        SOCK_WAIT,
        SOCK_WOKE,
        FD_WAIT,
        FD_WOKE,
        CHANGED,
        SHM_OPEN,
        SHM_CLOSE,
        SHM_UNLINK,
        LOST,
        WANTS,
        RENAMED,
    }
)

# Object types, by library (the `type` and `lib` of a `new` event).
MP_QUEUES = ("Queue", "JoinableQueue", "SimpleQueue")
QUEUE_QUEUES = ("Queue", "LifoQueue", "PriorityQueue", "SimpleQueue")
REDIS_TYPES = ("RedisList", "RedisStream")
SYNC_TYPES = ("Lock", "RLock", "Semaphore", "BoundedSemaphore", "Event", "Condition", "Barrier")
# A Manager's objects that hold values, shown with what they hold (`changed`).
MANAGER_VALUES = ("dict", "list", "Value", "Array", "Namespace")
# What a pool's idle worker waits for, and a waiter for a task's result
# (the fold's `op` of a thread).
WORK, RESULT = "work", "result"
# The target of a manager's server process (`spawn`'s target): the process
# that holds a Manager()'s objects, shown without threads of its own.
MANAGER_SERVER = "BaseManager._run_server"
