"""Pipes, files, sockets and shared memory: two processes talk through each
of the lecture's ways, and this program measures them.

For each way, main sets up a link and forks two processes that inherit it:
a receiver R<k> and a sender S<k>. The sender times round trips (a message
there, its echo back), then sends as many messages one way as it can; the
receiver compares every message byte for byte with what must have been
sent. A memory copy inside one process comes first: the limit.

Every message is PAYLOAD_BYTES long and carries its number in its first and
last 8 bytes; an all-ones number ends a phase. Each process prints what it
measured, one line per fact (``<way>: <what> name=value ...``).

Linux (the children are forked). Run it with: python ipc.py
"""

import fcntl
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

MECHANISMS = "all"  # all, pipe, file, socket, shared_memory or queue
PAYLOAD_BYTES = 1048576  # bytes per message (1 MiB)
MESSAGES = 5000  # at most this many round trips, then as many one-way messages
BUDGET_MS = 500  # a phase also ends after this long

GROUPS = {
    "pipe": ["os_pipe", "mp_pipe"],
    "file": ["file"],
    "socket": ["unix_socket", "tcp_socket"],
    "shared_memory": ["shared_memory"],
    "queue": ["mp_queue"],
}
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


def number_of(buf):
    return int.from_bytes(buf[:8], "little")


def percentile(sorted_values, q):
    return sorted_values[max(1, math.ceil(q * len(sorted_values))) - 1]


def fd_kind(fd):
    mode = os.fstat(fd).st_mode
    return "socket pair" if stat.S_ISSOCK(mode) else "pipe" if stat.S_ISFIFO(mode) else "file"


def read_exactly(read_into, buf):
    view, got = memoryview(buf), 0
    while got < len(buf):
        k = read_into(view[got:])
        if not k:
            raise ConnectionError("the other end was closed")
        got += k
    return buf


# The links. Main makes one; each child takes its end with end("sender") or
# end("receiver"), then send()s and recv()s whole messages.


class Pipes:
    """os.pipe(): a pipe carries bytes one way, so the way back needs a second one."""

    calls = 2

    def __init__(self):
        self.there, self.back = os.pipe(), os.pipe()  # (read end, write end) each
        try:  # the claim, tried for real: the read end cannot be written
            os.write(self.there[0], b"?")
            self.facts = {"one_way_error": ""}
        except OSError as exc:
            self.facts = {"one_way_error": f"{type(exc).__name__}: {exc}"}
        self.facts["fd_kind"] = fd_kind(self.there[0])
        self.facts["pipe_buffer"] = fcntl.fcntl(self.there[1], fcntl.F_GETPIPE_SZ)

    def end(self, side):
        (r, w), (other_r, other_w) = (self.back[0], self.there[1]), (self.there[0], self.back[1])
        if side == "receiver":
            (r, w), (other_r, other_w) = (other_r, other_w), (r, w)
        os.close(other_r)
        os.close(other_w)
        self.r, self.w = r, w
        return 0

    def send(self, buf):
        view = memoryview(buf)
        while view:
            view = view[os.write(self.w, view) :]

    def recv(self, buf):
        return read_exactly(lambda v: os.readv(self.r, [v]), buf)

    def release(self):
        for fd in (*self.there, *self.back):
            os.close(fd)


class MpPipe:
    """multiprocessing.Pipe(): one two-way connection."""

    calls = 1

    def __init__(self):
        self.a, self.b = fork.Pipe()
        self.facts = {"fd_kind": fd_kind(self.a.fileno())}

    def end(self, side):
        self.conn, other = (self.a, self.b) if side == "sender" else (self.b, self.a)
        other.close()
        return 0

    def send(self, buf):
        self.conn.send_bytes(buf)

    def recv(self, buf):
        if self.conn.recv_bytes_into(buf) != len(buf):
            raise ValueError("a message of another size arrived")
        return buf

    def release(self):
        self.a.close()
        self.b.close()


class Files:
    """Two temporary files, one per direction. They never have a name, so
    nothing is left behind. Nothing wakes a reader: it polls the size."""

    calls = 2

    def __init__(self):
        room = os.statvfs(tempfile.gettempdir())
        self.room = min(512 * 2**20, room.f_bavail * room.f_frsize // 4)
        if self.room < 4 * PAYLOAD_BYTES:
            free, where = self.room * 4, tempfile.gettempdir()
            raise MemoryError(f"{where} has {free} bytes free: too little for these messages")
        # Kept open for the children to inherit; main closes its copies in release().
        self.there = tempfile.TemporaryFile()  # noqa: SIM115
        self.back = tempfile.TemporaryFile()  # noqa: SIM115
        self.facts = {"dir": tempfile.gettempdir(), "room": self.room}

    def end(self, side):
        mine, theirs = (self.there, self.back) if side == "sender" else (self.back, self.there)
        self.w, self.r = mine.fileno(), theirs.fileno()
        self.written = self.read = 0
        return 0

    def send(self, buf):
        if self.written + len(buf) > self.room:
            raise MemoryError("the temporary file is full")
        self.written += os.pwrite(self.w, buf, self.written)

    def recv(self, buf):
        need = self.read + len(buf)
        while os.fstat(self.r).st_size < need:
            os.sched_yield()  # nothing to wait on: look again
        got = os.preadv(self.r, [buf], self.read)
        if got != len(buf):
            raise ValueError("the file ended before the message did")
        self.read = need
        return buf

    def release(self):
        self.there.close()
        self.back.close()


class Sockets:
    """A stream socket: main binds and listens, the receiver accepts, the sender connects."""

    def send(self, buf):
        self.sock.sendall(buf)

    def recv(self, buf):
        return read_exactly(self.sock.recv_into, buf)

    def release(self):
        self.listener.close()


class UnixSocket(Sockets):
    """AF_UNIX: a file name to meet at, gone once the two are connected."""

    calls = 3  # socket, bind, listen

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="ipc-", dir=".")  # only this user may enter
        self.path = os.path.join(self.dir, "link.sock")
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(self.path)
        self.listener.listen(1)
        self.facts = {"path": os.path.abspath(self.path)}

    def end(self, side):
        if side == "receiver":
            self.sock = self.listener.accept()[0]
            os.unlink(self.path)  # connected: the name has done its job
            os.rmdir(self.dir)
            return 1  # accept
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.path)
        return 2  # socket, connect


class Tcp(Sockets):
    """TCP over the loopback interface, Nagle's algorithm off."""

    calls = 3  # socket, bind, listen

    def __init__(self):
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(1)
        host, port = self.listener.getsockname()
        self.facts = {"address": f"{host}:{port}"}

    def end(self, side):
        if side == "receiver":
            self.sock = self.listener.accept()[0]
        else:
            self.sock = socket.create_connection(self.listener.getsockname())
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return 2 if side == "receiver" else 3


class SharedMemory:
    """A segment with two slots on the way there and one back; semaphores say
    whose turn it is. Its name goes as soon as both sides are forked."""

    calls = 4  # the segment and three semaphores

    def __init__(self):
        n, free = PAYLOAD_BYTES, os.statvfs("/dev/shm")
        if free.f_bavail * free.f_frsize < 3 * n:
            free = free.f_bavail * free.f_frsize
            raise MemoryError(f"{3 * n} bytes of shared memory needed, /dev/shm has {free} free")
        self.shm = shared_memory.SharedMemory(create=True, size=3 * n)
        self.free, self.full, self.answer = fork.Semaphore(2), fork.Semaphore(0), fork.Semaphore(0)
        self.facts = {"name": self.shm.name, "path": f"/dev/shm/{self.shm.name}"}
        self.facts.update(size=self.shm.size, slots=2)

    def end(self, side):
        self.sending, self.i, self.mem = side == "sender", 0, self.shm.buf
        return 0

    def send(self, buf):
        n = len(buf)
        if self.sending:
            self.free.acquire()
            at = self.i % 2 * n
            self.mem[at : at + n] = buf
            self.i += 1
            self.full.release()
        else:
            self.mem[2 * n : 3 * n] = buf
            self.answer.release()

    def recv(self, buf):
        n = len(buf)
        if self.sending:
            self.answer.acquire()
            buf[:] = self.mem[2 * n : 3 * n]
        else:
            self.full.acquire()
            at = self.i % 2 * n
            buf[:] = self.mem[at : at + n]
            self.i += 1
            self.free.release()
        return buf

    def release(self):
        self.shm.close()
        self.shm.unlink()  # mapped in both children still; freed with the last


class Queues:
    """For reference: multiprocessing.Queue pickles each message into a pipe."""

    calls = 2

    def __init__(self):
        self.there, self.back = fork.Queue(4), fork.Queue(4)
        self.facts = {"maxsize": 4}

    def end(self, side):
        self.out, self.inbox = (
            (self.there, self.back) if side == "sender" else (self.back, self.there)
        )
        return 0

    def send(self, buf):
        self.out.put(bytes(buf))

    def recv(self, buf):
        buf[:] = self.inbox.get()
        return buf

    def release(self):
        for q in (self.there, self.back):
            q.close()


LINKS = {
    "os_pipe": Pipes,
    "mp_pipe": MpPipe,
    "file": Files,
    "unix_socket": UnixSocket,
    "tcp_socket": Tcp,
    "shared_memory": SharedMemory,
    "mp_queue": Queues,
}


# The two sides, each in a process of its own.


def why_stopped(done, limit):
    return "count" if done >= limit else "time"


def sender(key, link, template):
    name = multiprocessing.current_process().name
    say(key, f"{name} connected", calls=link.end("sender"))
    frame, back = bytearray(template), bytearray(len(template))
    limit, budget_ns, clock = MESSAGES, BUDGET_MS * 1_000_000, time.perf_counter_ns
    if isinstance(link, Files):  # a file holds what is written to it: all of it
        limit = max(1, min(limit, link.room // 2 // len(frame) - 1))
    say(key, f"{name} round_trips", done=0)
    times, bad, start = [], 0, clock()
    next_say = start + PROGRESS_S * 1e9
    while len(times) < limit:
        stamp(frame, len(times))
        t0 = clock()
        link.send(frame)
        bad += link.recv(back) != frame
        t1 = clock()
        times.append(t1 - t0)
        if t1 - start >= budget_ns:
            break
        if t1 >= next_say:
            say(key, f"{name} round_trips", done=len(times))
            next_say = t1 + PROGRESS_S * 1e9
    seconds = (clock() - start) / 1e9
    stamp(frame, END)
    link.send(frame)
    times.sort()
    rtt = {"count": len(times), "seconds": round(seconds, 6), "bad": bad}
    for label, q in (("p50_us", 0.5), ("p99_us", 0.99)):
        rtt[label] = round(percentile(times, q) / 1000, 3)
    say(key, "round trips", **rtt, stopped_by=why_stopped(len(times), limit))
    first = len(times)
    say(key, f"{name} one_way", done=0)
    sent, start = 0, clock()
    next_say = start + PROGRESS_S * 1e9
    while sent < limit:
        stamp(frame, first + sent)
        link.send(frame)
        sent += 1
        now = clock()
        if now - start >= budget_ns:
            break
        if now >= next_say:
            say(key, f"{name} one_way", done=sent)
            next_say = now + PROGRESS_S * 1e9
    stamp(frame, END)
    link.send(frame)
    acknowledged = number_of(link.recv(back)) == END  # the receiver checked them all
    seconds = (clock() - start) / 1e9
    say(key, "one way", messages=sent, bytes=sent * len(frame), seconds=round(seconds, 6),
        acknowledged=acknowledged, stopped_by=why_stopped(sent, limit))  # fmt: skip


def receiver(key, link, template):
    name = multiprocessing.current_process().name
    say(key, f"{name} connected", calls=link.end("receiver"))
    got = bytearray(len(template))
    say(key, f"{name} round_trips")
    echoed = 0
    while number_of(link.recv(got)) != END:
        link.send(got)  # the echo
        echoed += 1
    say(key, f"{name} one_way")
    expected, count, bad = bytearray(template), 0, 0
    while number_of(link.recv(got)) != END:
        stamp(expected, echoed + count)
        bad += got != expected  # every byte compared
        count += 1
    stamp(expected, END)
    link.send(expected)  # all of it arrived
    say(key, "checked", messages=count, bytes=count * len(got), bad=bad)


# Main: the limit first, then each way in turn.


def memory_copy(template):
    """The limit: the same message copied inside one process."""
    key, n = "memcpy", len(template)
    src, dst, times = bytearray(template), bytearray(n), []
    clock, start = time.perf_counter_ns, time.perf_counter_ns()
    while len(times) < MESSAGES:
        t0 = clock()
        dst[:] = src
        t1 = clock()
        times.append(t1 - t0)
        if t1 - start >= BUDGET_MS * 1_000_000:
            break
    seconds, count = (clock() - start) / 1e9, len(times)
    times.sort()
    p50, p99 = percentile(times, 0.5) / 1000, percentile(times, 0.99) / 1000
    say(key, "round trips", count=count, p50_us=round(p50, 3), p99_us=round(p99, 3), bad=0)
    say(key, "one way", messages=count, bytes=count * n, seconds=round(seconds, 6))
    say(key, "checked", messages=count, bytes=count * n, bad=int(dst != src))
    say(key, "ok")


def how_it_ended(proc):
    code = proc.exitcode
    if code is not None and code < 0:
        return f"{proc.name} was killed ({signal.Signals(-code).name})"
    return f"{proc.name} failed (exit code {code})"


def watch(pair):
    """Wait for both sides; if one dies, the other gets a moment to notice by
    itself, then main ends it. Returns why it failed ("" if it did not)."""
    failed_at, why = None, []
    while any(p.exitcode is None for p in pair):
        connection.wait([p.sentinel for p in pair if p.exitcode is None], 0.05)
        dead = [p for p in pair if p.exitcode]
        if dead and failed_at is None:
            failed_at = time.monotonic()
            why.append(how_it_ended(min(dead, key=lambda p: p.exitcode)))
        if failed_at is not None and time.monotonic() > failed_at + GRACE_S:
            for p in pair:
                if p.exitcode is None:
                    p.terminate()  # nothing told it that its partner is gone
                    p.join()
                    why.append(f"nothing told {p.name}, so main ended it")
    for p in pair:
        p.join()
        if why and p.exitcode and p.exitcode > 0 and p.name not in why[0]:
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
    keys = [k for group, ks in GROUPS.items() if MECHANISMS in ("all", group) for k in ks]
    shm, tmp = os.statvfs("/dev/shm"), os.statvfs(tempfile.gettempdir())
    r, w = os.pipe()
    say("machine", "facts", shm_total=shm.f_blocks * shm.f_frsize,
        shm_free=shm.f_bavail * shm.f_frsize, tmp_dir=tempfile.gettempdir(),
        tmp_free=tmp.f_bavail * tmp.f_frsize, pipe_buffer=fcntl.fcntl(w, fcntl.F_GETPIPE_SZ),
        cpus=os.cpu_count())  # fmt: skip
    os.close(r)
    os.close(w)
    say("plan", " ".join(["memcpy", *keys]), payload_bytes=PAYLOAD_BYTES)
    template = random.Random(PAYLOAD_BYTES).randbytes(PAYLOAD_BYTES)  # no two pieces alike
    memory_copy(template)
    outcomes = [measure(k, key, template) for k, key in enumerate(keys, start=1)]
    print(
        f"accounting: {len(keys)} ways, {outcomes.count('ok')} measured,"
        f" {outcomes.count('failed')} failed, {outcomes.count('skipped')} skipped,"
        f" {2 * len(keys)} processes started"
    )
