"""A TCP proxy on 127.0.0.1 in front of a test server that can drop a connection mid-request, as a flaky network
does: `cut_next(method, after_body_bytes=n)` makes the next request of that method reach the server with its
headers and only the first `n` bytes of its body, then closes both sides (the client gets a connection error, the
server a short body)."""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass, field

HEADER_END = b"\r\n\r\n"


@dataclass
class _Cut:
    method: bytes
    after_body_bytes: int


@dataclass
class CuttingProxy:
    upstream: tuple[str, int]
    cuts_done: int = 0
    _cut: _Cut | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _listener: socket.socket | None = None
    _threads: list[threading.Thread] = field(default_factory=list)
    _closed: threading.Event = field(default_factory=threading.Event)

    def start(self) -> CuttingProxy:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self._spawn(self._accept)
        return self

    @property
    def url(self) -> str:
        assert self._listener is not None
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}"

    def cut_next(self, method: str, *, after_body_bytes: int) -> None:
        with self._lock:
            self._cut = _Cut(method.upper().encode(), after_body_bytes)

    def close(self) -> None:
        self._closed.set()
        for thread in self._threads:
            thread.join(timeout=5)
        if self._listener is not None:
            self._listener.close()

    def _spawn(self, target, *args) -> None:  # noqa: ANN001
        thread = threading.Thread(target=target, args=args, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _accept(self) -> None:
        assert self._listener is not None
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            server = socket.create_connection(self.upstream, timeout=30)
            self._spawn(self._client_to_server, client, server)
            self._spawn(self._pump, server, client)

    def _take_cut(self, head: bytes) -> _Cut | None:
        with self._lock:
            if self._cut is not None and head.startswith(self._cut.method + b" "):
                cut, self._cut = self._cut, None
                return cut
        return None

    def _client_to_server(self, client: socket.socket, server: socket.socket) -> None:
        """Forward the client's bytes; for the first request of the connection, apply a pending cut."""
        buffered = b""
        cut: _Cut | None = None
        try:
            while HEADER_END not in buffered:
                data = client.recv(65536)
                if not data:
                    break
                buffered += data
            cut = self._take_cut(buffered)
            if cut is None:
                server.sendall(buffered)
                self._pump(client, server)
                return
            header_end = buffered.index(HEADER_END) + len(HEADER_END)
            body = buffered[header_end:]
            while len(body) < cut.after_body_bytes:
                data = client.recv(65536)
                if not data:
                    break
                body += data
            server.sendall(buffered[:header_end] + body[: cut.after_body_bytes])
            with self._lock:
                self.cuts_done += 1
        except OSError:
            pass
        finally:
            if cut is not None:
                for sock in (client, server):
                    try:
                        sock.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                    sock.close()

    @staticmethod
    def _pump(source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass
        finally:
            try:
                target.shutdown(socket.SHUT_WR)
            except OSError:
                pass
