"""Sockets under the tracer: a blocking call that must wait says so before
it blocks, and nothing else about sockets costs an event."""

from __future__ import annotations

from tracerharness import seen, trace


def test_a_recv_that_must_wait_says_so_and_what_it_got_and_a_ready_one_says_nothing() -> None:
    run = trace(
        """
        import socket
        from multiprocessing import Process
        from gate import wait_for_go

        def child(inbox):
            first = inbox.recv(100)  # waits: nothing sent yet
            print("child got", first)

        if __name__ == "__main__":
            ours, theirs = socket.socketpair()
            p = Process(target=child, args=(theirs,), name="child")
            p.start()
            wait_for_go()  # once the test has seen the child wait
            ours.sendall(b"hi")
            ours.close()
            p.join()
            quick, slow = socket.socketpair()
            slow.sendall(b"ready")
            quick.setblocking(False)
            print(quick.recv(10))  # data there, and a non-blocking socket: no wait
        """,
        go_when=seen("sock_wait", "child"),
    )
    assert run.printed() == "child got b'hi'\nb'ready'\n"
    sock = run.key("inbox")
    assert run.new("inbox")["type"] == "socket"
    assert run.new("inbox")["family"] == "AF_UNIX"
    said = [(e.kind, e.data.get("op"), e.data.get("bytes")) for e in run.on(sock)]
    assert said[0] == ("new", None, None)
    assert said[1:] == [("sock_wait", "recv", None), ("sock_woke", "recv", 2)]
    assert run.one("sock_wait", sock).data["line"] == run.line("first = inbox.recv")
    # main's sendall had room, and quick's recv had data: no socket of theirs waited.
    assert [e.data["name"] for e in run.of("new")] == ["inbox"]


def test_a_listener_names_itself_and_the_connection_its_two_addresses() -> None:
    run = trace(
        """
        import socket, threading
        from gate import wait_for_go

        server = socket.socket()
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]

        def call():
            wait_for_go()  # once the test has seen main wait to accept
            link = socket.create_connection(("127.0.0.1", port))
            link.sendall(b"hello")
            link.close()

        t = threading.Thread(target=call, name="caller")
        t.start()
        conn, addr = server.accept()
        print(conn.recv(100))
        t.join()
        """,
        go_when=seen("sock_wait", "main"),
    )
    assert run.printed() == "b'hello'\n"
    listener = run.new("server")  # from its listen(), before it waited to accept
    assert listener["line"] == run.line("server.listen()")
    assert listener["local"].startswith("127.0.0.1:")
    assert listener["peer"] == ""
    assert run.one("sock_wait", run.key("server")).data["op"] == "accept"


def test_a_read_of_a_pipe_that_must_wait_says_so_and_a_select_too() -> None:
    run = trace(
        """
        import multiprocessing as mp
        import os
        import select
        from gate import wait_for_go

        if __name__ == "__main__":
            r, w = os.pipe()
            os.write(w, b"ready")
            print(os.read(r, 5))  # there already: no wait
            if os.fork() == 0:
                wait_for_go()  # once the test has seen main wait
                os.write(w, b"late")
                os._exit(0)
            print(os.read(r, 4))  # waits for the child
            select.select([r], [], [], 0.01)  # times out: a wait with a timeout
            print(os.read.__name__, repr(os.read))  # to the program, the functions it knows
            q = mp.Queue()  # multiprocessing's own reads and writes say nothing
            q.put("x")
            print(q.get())
        """,
        go_when=seen("fd_wait", "main"),
    )
    assert run.printed() == "b'ready'\nb'late'\nread <built-in function read>\nx\n"
    waits = [e.data for e in run.of("fd_wait") if e.worker == "main"]
    assert waits[0] == {
        "line": run.line("print(os.read(r, 4))"),
        "op": "os.read",
        "fd": waits[0]["fd"],
        "what": "pipe",
    }
    assert waits[1]["op"] == "select"
    assert (waits[1]["files"], waits[1]["timeout"]) == (1, 0.01)
    assert len(waits) == 2
    assert [e.data["op"] for e in run.of("fd_woke") if e.worker == "main"] == ["os.read", "select"]
