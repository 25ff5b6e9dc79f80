"""A TCP proxy on loopback that delays every chunk by a fixed time in each direction.

It puts the database "1 ms away" (0.5 ms each way) for the remote scenarios. Threads, not
asyncio: an event loop's timers round a 0.5 ms sleep up to a millisecond or more, while a
thread sleeping until a deadline overshoots by tens of microseconds. Each direction of each
connection has a reader, which stamps what arrives, and a writer, which sends it once its
time has come, in order; so the delay adds to each chunk and does not pile up.

:class:`DelayProxy` runs it in a process of its own (``python -m bench.proxy``): its threads
then share an interpreter lock with nothing but each other, not with the benchmark's own
threads (the export downloads, for one), and hand it over every 0.1 ms rather than 5 ms.
Probed under a GET load (1.3 to 1.4 ms idle), a round trip through it had a p99 of 2.4 ms and a
worst of 9.4 ms in the benchmark's process, 2.3 and 5.3 ms in its own. It exits when the
benchmark does, even one that dies: it serves until its standard input closes.
"""

from __future__ import annotations

import contextlib
import queue
import socket
import subprocess
import sys
import threading
import time


class DelayProxy:
    """The proxy in a process of its own, forwarding to ``target`` with ``delay`` each way;
    it listens on ``127.0.0.1:<port>`` until :meth:`close`."""

    def __init__(self, target: tuple[str, int], delay: float = 0.0005) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "bench.proxy", target[0], str(target[1]), str(delay)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._process.stdout is not None
        self.port = int(self._process.stdout.readline())

    def close(self) -> None:
        self._process.terminate()
        self._process.wait(10)


class ThreadedProxy:
    """Listen on ``127.0.0.1:<port>`` and forward to ``target`` with ``delay`` each way."""

    def __init__(self, target: tuple[str, int], delay: float = 0.0005) -> None:
        self.target = target
        self.delay = delay
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._server.getsockname()[1]
        self._stopped = threading.Event()
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, name="delay-proxy", daemon=True).start()

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            for sock in (client, upstream):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self._sockets.append(sock)
            self._pipe(client, upstream)
            self._pipe(upstream, client)

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        chunks: queue.SimpleQueue[tuple[float, bytes]] = queue.SimpleQueue()

        def read() -> None:
            while True:
                try:
                    data = source.recv(65536)
                except OSError:
                    data = b""
                chunks.put((time.perf_counter() + self.delay, data))
                if not data:
                    return

        def write() -> None:
            while True:
                due, data = chunks.get()
                wait = due - time.perf_counter()
                if wait > 0:
                    time.sleep(wait)
                if not data:
                    with contextlib.suppress(OSError):
                        sink.shutdown(socket.SHUT_WR)
                    return
                try:
                    sink.sendall(data)
                except OSError:
                    return

        threading.Thread(target=read, daemon=True).start()
        threading.Thread(target=write, daemon=True).start()

    def close(self) -> None:
        self._stopped.set()
        self._server.close()
        for sock in self._sockets:
            with contextlib.suppress(OSError):
                sock.close()


def main() -> None:
    """``python -m bench.proxy HOST PORT DELAY``: print the port listened on, then serve until
    standard input closes."""
    host, port, delay = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    sys.setswitchinterval(0.0001)
    proxy = ThreadedProxy((host, port), delay)
    print(proxy.port, flush=True)
    sys.stdin.read()
    proxy.close()


if __name__ == "__main__":
    main()
