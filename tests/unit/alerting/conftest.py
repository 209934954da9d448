"""Fixtures for the alerting tests: a real HTTP receiver on 127.0.0.1 and a fresh state database.

`RecordingServer` is a `ThreadingHTTPServer` on port 0 that records every request (path, headers,
JSON body) and answers from a script (`server.script(429, 200)`, `server.always(500)`); `stop()` and
`start()` take it down and bring it back on the same port, so "the receiver is down for two runs"
is a real refused connection, not a mock. An `Answer` with `delay_s` records the request and answers
late (a receiver that accepted the post but answers after the client's timeout); `responder` lets a
test answer from what was recorded (a Slack Web API that serves `conversations.history`).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from watchkeeper.state import StateStore, open_state

T0 = datetime(2024, 3, 1, tzinfo=UTC)
NOW = datetime(2024, 3, 20, 12, 0, tzinfo=UTC)


def day(n: int) -> datetime:
    """window_end of day n (day 1 ends at T0)."""
    return T0 + timedelta(days=n - 1)


@dataclass
class Answer:
    status: int = 200
    body: str = "ok"
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: Any


class RecordingServer:
    def __init__(self) -> None:
        self.requests: list[Request] = []
        self._script: list[Answer] = []
        self._always: Answer | None = None
        self.responder: Callable[[Request], Answer | None] | None = None
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # -- scripting ----------------------------------------------------------------------------
    def script(self, *answers: int | Answer) -> None:
        """Answer the next requests in this order, then 200 (unless `always` says otherwise)."""
        with self._lock:
            self._script = [a if isinstance(a, Answer) else Answer(a) for a in answers]

    def always(self, answer: int | Answer | None) -> None:
        with self._lock:
            self._always = answer if answer is None or isinstance(answer, Answer) else Answer(answer)

    def _next(self, req: Request) -> Answer:
        if self.responder is not None:
            answer = self.responder(req)
            if answer is not None:
                return answer
        with self._lock:
            if self._script:
                return self._script.pop(0)
            return self._always or Answer()

    def record(self, req: Request) -> None:
        with self._lock:
            self.requests.append(req)

    # -- lifecycle -----------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode()
                ctype = self.headers.get("Content-Type") or ""
                if "json" in ctype:
                    body: Any = json.loads(raw)
                else:  # WebClient posts form-encoded or JSON depending on the call; keep it raw
                    body = raw
                req = Request(self.path, dict(self.headers.items()), body)
                server.record(req)
                answer = server._next(req)
                if answer.delay_s:
                    time.sleep(answer.delay_s)
                payload = answer.body.encode()
                self.send_response(answer.status)
                for key, value in answer.headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                try:
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up waiting (a timeout test): nothing to answer

            def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


@pytest.fixture
def server() -> Iterator[RecordingServer]:
    srv = RecordingServer()
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
def store(tmp_path: Any) -> StateStore:
    return open_state(f"sqlite:///{tmp_path / 'state.db'}")
