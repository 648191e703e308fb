"""Pipes, files, sockets and shared memory: two processes talk through each
of the lecture's ways, and this program measures them.

For each way, main sets up a link and forks a receiver R<k> and a sender
S<k> that inherit it. The sender times round trips (a message there, its
echo back), then sends as many messages one way as it can; the receiver
compares every byte with what must have been sent. A memory copy inside
one process comes first: the limit. A message is PAYLOAD_BYTES long, its
number in its first and last 8 bytes; an all-ones number ends a phase.
Each fact is printed on a line of its own (``<way>: <what> name=value``).

Linux (the children are forked). Run it with: python ipc.py
"""

import json
import math
import multiprocessing
import os
import random
import signal
import socket
import stat
import tempfile
import time
from multiprocessing import connection, shared_memory
from socket import AF_INET, AF_UNIX

MECHANISMS = "all"  # all, pipe, file, socket, shared_memory or queue
PAYLOAD_BYTES = 1048576  # bytes per message (1 MiB)
MESSAGES = 5000  # at most this many round trips, then as many one-way messages
BUDGET_MS = 500  # a phase also ends after this long

END = 2**64 - 1  # the number that ends a phase
PROGRESS_S = 0.1  # how often the sender says how far it is
GRACE_S = 0.5  # when one side dies, how long the other gets to notice
fork = multiprocessing.get_context("fork")


def say(key, what, **values):
    """One line of the report: ``os_pipe: one way messages=40 seconds=0.01``."""
    parts = [f"{k}={json.dumps(v) if isinstance(v, (str, bool)) else v}" for k, v in values.items()]
    print(f"{key}: {' '.join([what, *parts])}", flush=True)


def stamp(buf, number):
    buf[:8] = buf[-8:] = number.to_bytes(8, "little")
    return buf


def number_of(buf):
    return int.from_bytes(buf[:8], "little")


def free_bytes(path):
    room = os.statvfs(path)
    return room.f_bavail * room.f_frsize


class Link:
    """Main sets a link up (`calls`: the system calls that took; `facts`: what
    it found out), forks the two sides and closes its own copies (`release`).
    Each side takes its end, end("sender") or end("receiver"), which returns
    the calls that took, then sends and receives whole messages: by default
    the sender on `there`, hearing back on `back`, through the file
    descriptors `w` (to write) and `r` (to read)."""

    calls, facts = 2, {}  # two objects, one each way; nothing more to say
    most = MESSAGES  # messages per phase, at most (a file keeps them all: fewer)

    def end(self, side):
        ends = (self.there, self.back)
        self.out, self.inbox = ends if side == "sender" else ends[::-1]
        return 0

    def release(self):
        self.there.close()
        self.back.close()

    def send(self, buf):
        view = memoryview(buf)
        while view:
            view = view[os.write(self.w, view) :]

    def recv(self, buf):
        view = memoryview(buf)
        while view:
            got = os.readv(self.r, [view])
            if not got:
                raise ConnectionError("the other end was closed")
            view = view[got:]
        return buf


class Pipes(Link):
    """os.pipe(): a pipe carries bytes one way, so the way back needs a second one."""

    def __init__(self):
        self.there, self.back = os.pipe(), os.pipe()  # (read end, write end) each
        try:  # the claim, tried for real: the read end cannot be written
            os.write(self.there[0], b"?")
            self.facts = {"one_way_error": ""}
        except OSError as exc:
            self.facts = {"one_way_error": f"{type(exc).__name__}: {exc}"}

    def end(self, side):
        super().end(side)
        (self.r, theirs_w), (theirs_r, self.w) = self.inbox, self.out
        os.close(theirs_r)  # the other side's ends: each pipe has one reader, one writer
        os.close(theirs_w)
        return 0

    def release(self):
        for fd in (*self.there, *self.back):
            os.close(fd)


class Socket(Link):
    """A stream socket: main binds and listens, the receiver accepts, the
    sender connects. AF_UNIX meets at a file name, gone once the two are
    connected; TCP goes over the loopback interface, Nagle's algorithm off."""

    calls = 3  # socket, bind, listen

    def __init__(self, family):
        self.family, self.listener = family, socket.socket(family, socket.SOCK_STREAM)
        self.address, self.facts = ("127.0.0.1", 0), {}
        if family == AF_UNIX:
            self.dir = tempfile.mkdtemp(prefix="ipc-", dir=".")  # only this user may enter
            self.address = os.path.join(self.dir, "link.sock")
            self.facts = {"path": os.path.abspath(self.address)}
        self.listener.bind(self.address)
        self.listener.listen(1)
        self.address = self.listener.getsockname()

    def end(self, side):
        if side == "receiver":
            self.sock, calls = self.listener.accept()[0], 1
            if self.family == AF_UNIX:  # connected: the name has done its job
                os.unlink(self.address)
                os.rmdir(self.dir)
        else:
            self.sock, calls = socket.socket(self.family, socket.SOCK_STREAM), 2
            self.sock.connect(self.address)
        if self.family == AF_INET:
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            calls += 1
        self.r = self.w = self.sock.fileno()
        return calls

    def release(self):
        self.listener.close()


class MpPipe(Link):
    """multiprocessing.Pipe(): one two-way connection, its two ends there and back."""

    calls = 1

    def __init__(self):
        self.there, self.back = fork.Pipe()
        is_socket = stat.S_ISSOCK(os.fstat(self.there.fileno()).st_mode)
        self.facts = {"fd_kind": "socket pair" if is_socket else "pipe"}

    def end(self, side):
        self.conn, other = (self.there, self.back) if side == "sender" else (self.back, self.there)
        other.close()
        return 0

    def send(self, buf):
        self.conn.send_bytes(buf)

    def recv(self, buf):
        self.conn.recv_bytes_into(buf)
        return buf


class Files(Link):
    """Two temporary files, one per direction. They never have a name, so
    nothing is left behind. Nothing wakes a reader: it polls the size."""

    def __init__(self):
        where = tempfile.gettempdir()
        free = free_bytes(where)
        room = min(512 * 2**20, free // 4)  # for the two: a file keeps every message sent
        self.most = min(MESSAGES, room // 2 // PAYLOAD_BYTES - 1)
        if self.most < 1:
            raise MemoryError(f"{where} has {free} bytes free: too little for these messages")
        # Kept open for the children to inherit; main closes its copies in release().
        self.there = tempfile.TemporaryFile()  # noqa: SIM115
        self.back = tempfile.TemporaryFile()  # noqa: SIM115
        self.written = self.read = 0  # bytes so far: each side counts in its own copy

    def send(self, buf):
        self.written += os.pwrite(self.out.fileno(), buf, self.written)

    def recv(self, buf):
        while os.fstat(self.inbox.fileno()).st_size < self.read + len(buf):
            os.sched_yield()  # nothing to wait on: look again
        self.read += os.preadv(self.inbox.fileno(), [buf], self.read)
        return buf


class SharedMemory(Link):
    """A segment with two slots on the way there and one back; semaphores say
    whose turn it is. Its name goes as soon as both sides are forked."""

    calls = 4  # the segment and three semaphores

    def __init__(self):
        n, free = PAYLOAD_BYTES, free_bytes("/dev/shm")
        if free < 3 * n:
            raise MemoryError(f"{3 * n} bytes of shared memory needed, /dev/shm has {free} free")
        self.shm = shared_memory.SharedMemory(create=True, size=3 * n)
        self.free, self.full, self.answer = fork.Semaphore(2), fork.Semaphore(0), fork.Semaphore(0)
        self.there, self.back = [slice(0, n), slice(n, 2 * n)], slice(2 * n, 3 * n)  # the slots
        name = self.shm.name
        self.facts = {"name": name, "path": f"/dev/shm/{name}", "size": self.shm.size}

    def end(self, side):
        self.sending, self.i, self.mem = side == "sender", 0, self.shm.buf
        return 0

    def send(self, buf):
        if self.sending:  # into the next of the two slots there
            self.free.acquire()
            self.mem[self.there[self.i % 2]] = buf
            self.i += 1
            self.full.release()
        else:  # into the slot back
            self.mem[self.back] = buf
            self.answer.release()

    def recv(self, buf):
        if self.sending:
            self.answer.acquire()
            buf[:] = self.mem[self.back]
        else:
            self.full.acquire()
            buf[:] = self.mem[self.there[self.i % 2]]
            self.i += 1
            self.free.release()
        return buf

    def release(self):
        self.shm.close()
        self.shm.unlink()  # mapped in both children still; freed with the last


class Queues(Link):
    """For reference: multiprocessing.Queue pickles each message into a pipe."""

    def __init__(self):
        self.there, self.back = fork.Queue(4), fork.Queue(4)

    def send(self, buf):
        self.out.put(bytes(buf))

    def recv(self, buf):
        buf[:] = self.inbox.get()
        return buf


# The lecture's ways (MECHANISMS picks one, or all), and the links that measure each.
WAYS = {
    "pipe": {"os_pipe": Pipes, "mp_pipe": MpPipe},
    "file": {"file": Files},
    "socket": {"unix_socket": lambda: Socket(AF_UNIX), "tcp_socket": lambda: Socket(AF_INET)},
    "shared_memory": {"shared_memory": SharedMemory},
    "queue": {"mp_queue": Queues},
}
LINKS = {key: make for links in WAYS.values() for key, make in links.items()}


# The measurement: one loop for every phase.
def timed(limit, step, key="", progress=""):
    """Call step(i) for i = 0, 1, ... until it ran `limit` times or BUDGET_MS
    passed; say how far it is (`progress`) now and every PROGRESS_S. Returns
    each step's time in ns and what stopped it."""
    clock, times = time.perf_counter_ns, []
    start = next_say = clock()
    while len(times) < limit:
        if progress and clock() >= next_say:
            say(key, progress, done=len(times))
            next_say = clock() + PROGRESS_S * 1e9
        t0 = clock()
        step(len(times))
        now = clock()
        times.append(now - t0)
        if now - start >= BUDGET_MS * 1_000_000:
            break
    return times, "count" if len(times) >= limit else "time"


def latency(times):
    """The median and the 99th percentile of these times, in microseconds."""
    times = sorted(times)
    at = {q: times[max(1, math.ceil(q * len(times))) - 1] / 1000 for q in (0.5, 0.99)}
    return {"count": len(times), "p50_us": round(at[0.5], 3), "p99_us": round(at[0.99], 3)}


# The two sides, each in a process of its own.
def sender(key, link, template):
    name = multiprocessing.current_process().name
    say(key, f"{name} connected", calls=link.end("sender"))
    frame, back, bad = bytearray(template), bytearray(len(template)), []

    def round_trip(i):
        link.send(stamp(frame, i))
        bad.append(link.recv(back) != frame)

    times, stopped_by = timed(link.most, round_trip, key, f"{name} round_trips")
    link.send(stamp(frame, END))
    say(key, "round trips", **latency(times), bad=sum(bad), stopped_by=stopped_by)
    start = time.perf_counter()  # one way: numbered from 0 again, as the receiver counts
    sent, stopped_by = timed(
        link.most, lambda i: link.send(stamp(frame, i)), key, f"{name} one_way"
    )
    link.send(stamp(frame, END))
    acknowledged = number_of(link.recv(back)) == END  # the receiver checked them all
    seconds = round(time.perf_counter() - start, 6)
    say(key, "one way", messages=len(sent), bytes=len(sent) * len(frame), seconds=seconds,
        acknowledged=acknowledged, stopped_by=stopped_by)  # fmt: skip


def receiver(key, link, template):
    name = multiprocessing.current_process().name
    say(key, f"{name} connected", calls=link.end("receiver"))
    got = bytearray(len(template))
    say(key, f"{name} round_trips")
    while number_of(link.recv(got)) != END:
        link.send(got)  # the echo
    say(key, f"{name} one_way")
    expected, count, bad = bytearray(template), 0, 0
    while number_of(link.recv(got)) != END:
        bad += got != stamp(expected, count)  # every byte compared
        count += 1
    link.send(stamp(expected, END))  # all of it arrived
    say(key, "checked", messages=count, bytes=count * len(got), bad=bad)


# Main: the limit first, then each way in turn.
def memory_copy(template):
    """The limit: the same message copied inside one process."""
    key, n = "memcpy", len(template)
    src, dst = bytearray(template), bytearray(n)

    def copy(i):
        dst[:] = src

    times, _ = timed(MESSAGES, copy)
    seconds, count = round(sum(times) / 1e9, 6), len(times)
    say(key, "round trips", **latency(times), bad=0)
    say(key, "one way", messages=count, bytes=count * n, seconds=seconds)
    say(key, "checked", messages=count, bytes=count * n, bad=int(dst != src))
    say(key, "ok")


def how_it_ended(proc):
    code = proc.exitcode
    if code < 0:
        return f"{proc.name} was killed ({signal.Signals(-code).name})"
    return f"{proc.name} failed (exit code {code})"


def watch(pair):
    """Wait for both sides. When one fails, the other gets a moment to notice
    by itself, then main ends it. Returns why it failed ("" if it did not)."""
    while True:  # `running` first: a side that ends after it is in `failed`
        running = [p.sentinel for p in pair if p.exitcode is None]
        failed = sorted((p for p in pair if p.exitcode), key=lambda p: p.exitcode)
        if failed or not running:
            break
        connection.wait(running)
    why = [how_it_ended(p) for p in failed[:1]]  # a signal first: the cause
    for p in pair:
        p.join(GRACE_S if why else None)
        if p.exitcode is None:
            p.terminate()  # nothing told it that its partner is gone
            p.join()
            why.append(f"nothing told {p.name}, so main ended it")
        elif p.exitcode > 0 and p.name not in why[0]:
            why.append(f"{p.name} saw its link close and stopped by itself")
    return "; ".join(why)


def measure(k, key, template):
    try:
        link = LINKS[key]()
    except MemoryError as exc:  # too large for this machine
        say(key, "skipped", reason=str(exc))
        return "skipped"
    except OSError as exc:
        say(key, "failed", reason=f"could not set it up: {exc}")
        return "failed"
    pair = [
        fork.Process(target=receiver, args=(key, link, template), name=f"R{k}"),
        fork.Process(target=sender, args=(key, link, template), name=f"S{k}"),
    ]
    say(key, "set up", calls=link.calls, sender=f"S{k}", receiver=f"R{k}", **link.facts)
    for p in pair:
        p.start()
    link.release()  # main's copies go: the two children hold the link
    why = watch(pair)
    if why:
        say(key, "failed", reason=why)
        return "failed"
    say(key, "ok")
    return "ok"


if __name__ == "__main__":
    keys = [key for way, links in WAYS.items() if MECHANISMS in ("all", way) for key in links]
    tmp, shm = tempfile.gettempdir(), os.statvfs("/dev/shm")
    sizes = {"shm_total": shm.f_blocks * shm.f_frsize, "shm_free": free_bytes("/dev/shm")}
    say("machine", "facts", **sizes, tmp_dir=tmp, tmp_free=free_bytes(tmp), cpus=os.cpu_count())
    say("plan", " ".join(["memcpy", *keys]), payload_bytes=PAYLOAD_BYTES)
    template = random.Random(PAYLOAD_BYTES).randbytes(PAYLOAD_BYTES)  # no two pieces alike
    memory_copy(template)
    outcomes = [measure(k, key, template) for k, key in enumerate(keys, start=1)]
    print(
        f"accounting: {len(keys)} ways, {outcomes.count('ok')} measured,"
        f" {outcomes.count('failed')} failed, {outcomes.count('skipped')} skipped,"
        f" {2 * len(keys)} processes started"
    )
