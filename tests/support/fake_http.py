"""What the fake Vault, Auth0 and Kubernetes servers share: a loopback HTTP server in a thread,
a request log and fault injection ("the next N requests get 503")."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

_Server = TypeVar("_Server", bound="FakeServer")
TRICKLE_SECONDS = 0.05


@dataclass
class Request:
    method: str
    path: str  # percent-decoded, without the query
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body or b"null")


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    # Given: the body goes out one byte every TRICKLE_SECONDS (each well within any socket
    # timeout) until the event is set, then the rest at once (a server holding a client).
    trickle_until: threading.Event | None = None
    # True: the request was received, and the connection closes without an answer.
    drop: bool = False

    @classmethod
    def json(cls, status: int, data: Any, headers: dict[str, str] | None = None) -> Response:
        payload = json.dumps(data).encode()
        return cls(status, payload, {"Content-Type": "application/json", **(headers or {})})


@dataclass
class Fault:
    status: int
    remaining: int
    headers: dict[str, str]
    match: str  # only requests whose path contains this


class FakeServer:
    """Subclasses implement `handle(request) -> Response` and `fault_response(fault)`."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.log: list[tuple[str, str]] = []
        self._faults: list[Fault] = []
        self._answers: list[tuple[str, str | None, Response | Callable[[Request], Response]]] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.before_request: Callable[[Request], None] | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> FakeServer:
        handler = _handler_for(self)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self: _Server) -> _Server:
        """`with server:` serves for the block (a session fixture yields inside one)."""
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- fault injection ---------------------------------------------------------------------
    def fail_next(
        self, status: int, count: int = 1, headers: dict[str, str] | None = None, match: str = ""
    ) -> None:
        """The next `count` requests (whose path contains `match`) get `status`."""
        with self.lock:
            self._faults.append(Fault(status, count, dict(headers or {}), match))

    def answer_next(
        self, response: Response | Callable[[Request], Response], match: str = "", method: str | None = None
    ) -> None:
        """The next request whose path contains `match` (and of `method`, given one) gets
        `response` as it is: a hostile or broken server's answer (a wrong shape, a 200 with an
        error body); a function of the request makes it from what was sent (an error quoting a
        header)."""
        with self.lock:
            self._answers.append((match, method, response))

    def clear_faults(self) -> None:
        with self.lock:
            self._faults.clear()
            self._answers.clear()

    def _take_fault(self, request: Request) -> Fault | None:
        with self.lock:
            for fault in self._faults:
                if fault.match in request.path and fault.remaining > 0:
                    fault.remaining -= 1
                    if fault.remaining == 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def clear_log(self) -> None:
        with self.lock:
            self.log.clear()

    def fresh(self) -> None:
        """A session's server made ready for the next test: no faults, an empty log, no request hook."""
        self.clear_faults()
        self.clear_log()
        self.before_request = None

    def requests_to(self, fragment: str, method: str | None = None) -> int:
        """How many requests (since the log was last cleared) went to a path containing `fragment`."""
        with self.lock:
            return sum(1 for m, p in self.log if fragment in p and (method is None or m == method))

    def dispatch(self, request: Request) -> Response:
        with self.lock:
            self.log.append((request.method, request.path))
        if self.before_request:
            self.before_request(request)
        with self.lock:
            answer = next(
                (a for a in self._answers if a[0] in request.path and a[1] in (None, request.method)), None
            )
            if answer:
                self._answers.remove(answer)
        if answer:  # made outside the lock: an answer that waits holds up no other request
            return answer[2](request) if callable(answer[2]) else answer[2]
        fault = self._take_fault(request)
        if fault:
            return self.fault_response(fault)
        return self.handle(request)

    def handle(self, request: Request) -> Response:  # pragma: no cover - abstract
        raise NotImplementedError

    def fault_response(self, fault: Fault) -> Response:  # pragma: no cover - abstract
        raise NotImplementedError


def _handler_for(fake: FakeServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out at once: no 40 ms delayed-ACK stalls

        def _serve(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            request = Request(
                method=self.command,
                path=unquote(parts.path),
                query=parse_qs(parts.query),
                headers={k.lower(): v for k, v in self.headers.items()},
                body=self.rfile.read(length) if length else b"",
            )
            response = fake.dispatch(request)
            if response.drop:
                self.close_connection = True
                return
            self.send_response(response.status)
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            if self.command != "HEAD":
                self._write(response)

        def _write(self, response: Response) -> None:
            body, stop = response.body, response.trickle_until
            while stop is not None and body and not stop.wait(TRICKLE_SECONDS):
                self.wfile.write(body[:1])
                self.wfile.flush()
                body = body[1:]
            self.wfile.write(body)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_LIST = _serve

        def handle(self) -> None:
            try:
                super().handle()
            except (ConnectionResetError, BrokenPipeError):  # a client that stopped reading (a bound)
                return

        def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
            return

    return Handler


@contextlib.contextmanager
def trickling(
    server: Any,
    monkeypatch: pytest.MonkeyPatch,
    match: str,
    method: str,
    answer: Callable[[Request], Response],
) -> Iterator[None]:
    """The next `method` request to `match` gets `answer`, sent a byte at a time (each well within
    the socket timeout) for 5 s at most; the store's wall-clock bound is shortened to 0.5 s."""
    from sealer import deadline

    monkeypatch.setattr(deadline, "MAX_REQUEST_SECONDS", 0.5)
    stop = threading.Event()
    timer = threading.Timer(5, stop.set)  # without the bound, the call ends here (and succeeds)

    def trickled(request: Request) -> Response:
        timer.start()
        reply = answer(request)
        reply.trickle_until = stop
        return reply

    server.answer_next(trickled, match=match, method=method)
    try:
        yield
    finally:
        stop.set()
        timer.cancel()
