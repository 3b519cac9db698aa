"""A Canvas on loopback that serves the endpoints ``brokerlab lms push canvas`` uses, as documented,
and records every request it gets.

What each endpoint does follows Canvas's REST documentation and instructure/canvas-lms's own code:

- ``GET /api/v1/courses/:id`` and ``GET /api/v1/courses/:course_id/assignments/:id``: the Course
  and Assignment objects (an assignment carries its ``course_id``, which canvasapi uses for the
  next call); an unknown id is 404 ``{"errors": [{"message": ...}]}``.
- ``POST /api/v1/courses/:course_id/assignments/:assignment_id/submissions/update_grades``
  (``SubmissionsApiController#bulk_update``): form fields ``grade_data[<student_id>][posted_grade]``
  and ``grade_data[<student_id>][text_comment]``; no ``grade_data`` is 400; the answer is a new
  Progress (``id``, ``workflow_state`` ``queued``, ``url``, ...). A student id is a Canvas user id
  or ``sis_user_id:``/``sis_login_id:`` followed by one (``Api.map_ids``).
- ``GET /api/v1/progress/:id`` (``ProgressController#show``): the job moves one step a query
  through ``states`` (by default queued, running, completed). Like ``Submission.process_bulk_update``
  the job grades every user it finds; if it found no user for some ids it ends ``failed`` with the
  message ``Couldn't find User(s) with API ids 'a', 'b'``.
- Every request needs ``Authorization: Bearer <token>``; without it the answer is 401 with a
  ``WWW-Authenticate`` header, as Canvas gives for an invalid access token.
"""
from __future__ import annotations

import json
import re
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

GRADE_FIELD = re.compile(r"grade_data\[([^\]]*)\]\[([a-z_]+)\]$")


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    form: list[tuple[str, str]]


@dataclass
class User:
    id: int
    sis_user_id: str | None = None
    login_id: str | None = None


@dataclass
class Job:
    progress: dict[str, Any]
    states: list[str]
    message: str | None = None


@dataclass
class FakeCanvas:
    token: str
    users: list[User]
    course_id: int = 7
    assignment_id: int = 42
    points_possible: float = 100
    states: tuple[str, ...] = ("queued", "running", "completed")
    fail_message: str | None = None  # a job that fails for a reason of its own
    requests: list[Request] = field(default_factory=list)
    grades: dict[int, dict[str, str]] = field(default_factory=dict)  # user id -> what the job applied
    jobs: dict[int, Job] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)  # shutdown() waits up to one poll

    def __enter__(self) -> "FakeCanvas":
        self.thread.start()
        self._ready()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()

    def _ready(self) -> None:
        """One request answered before any test's: the server is serving, then forget it."""
        try:
            urllib.request.urlopen(f"{self.url}/api/v1/courses/{self.course_id}", timeout=10)
        except urllib.error.HTTPError as exc:
            assert exc.code == 401
        with self.lock:
            self.requests.clear()

    # -- what the tests read --

    def posts(self) -> list[Request]:
        return [r for r in self.requests if r.method == "POST"]

    def grade_data(self) -> dict[str, dict[str, str]]:
        """The one bulk update's grade_data, as Rails would parse it: id -> field -> value."""
        (post,) = self.posts()
        data: dict[str, dict[str, str]] = {}
        for key, value in post.form:
            match = GRADE_FIELD.match(key)
            assert match, f"not a grade_data field: {key}"
            data.setdefault(match.group(1), {})[match.group(2)] = value
        return data

    # -- Canvas --

    def find_user(self, api_id: str) -> User | None:
        for user in self.users:
            if api_id.isdigit() and int(api_id) == user.id:
                return user
            if api_id == f"sis_user_id:{user.sis_user_id}" or api_id == f"sis_login_id:{user.login_id}":
                return user
        return None

    def course(self) -> dict[str, Any]:
        return {"id": self.course_id, "name": "Message Brokers", "course_code": "MB-101",
                "workflow_state": "available"}

    def assignment(self) -> dict[str, Any]:
        return {"id": self.assignment_id, "course_id": self.course_id, "name": "Broker Lab",
                "points_possible": self.points_possible, "grading_type": "points", "published": True}

    def bulk_update(self, form: list[tuple[str, str]]) -> tuple[int, Any]:
        data: dict[str, dict[str, str]] = {}
        for key, value in form:
            match = GRADE_FIELD.match(key)
            if match:
                data.setdefault(match.group(1), {})[match.group(2)] = value
        if not data:
            return 400, "'grade_data' parameter required"
        missing = []
        for api_id, fields in data.items():
            user = self.find_user(api_id)
            if user is None:
                missing.append(api_id)
            else:
                self.grades[user.id] = fields
        number = len(self.jobs) + 1
        states = list(self.states)
        message = self.fail_message
        if missing:
            states[-1] = "failed"
            message = "Couldn't find User(s) with API ids " + ", ".join(f"'{i}'" for i in missing)
        progress = {"id": number, "context_id": self.course_id, "context_type": "Course", "user_id": 1,
                    "tag": "submissions_update", "completion": 0, "workflow_state": states[0],
                    "created_at": "2026-01-15T15:00:00Z", "updated_at": "2026-01-15T15:00:00Z",
                    "message": None, "url": f"{self.url}/api/v1/progress/{number}"}
        self.jobs[number] = Job(progress, states[1:], message)
        return 200, progress

    def query(self, number: int) -> tuple[int, Any]:
        job = self.jobs.get(number)
        if job is None:
            return 404, {"errors": [{"message": "The specified resource does not exist."}]}
        if job.states:
            state = job.states.pop(0)
            done = state in ("completed", "failed")
            job.progress.update(workflow_state=state, completion=100 if done else 50,
                                updated_at="2026-01-15T15:00:01Z")
            if state == "failed":
                job.progress["message"] = job.message
        return 200, job.progress

    def answer(self, method: str, path: str, form: list[tuple[str, str]]) -> tuple[int, Any]:
        course, assignment = str(self.course_id), str(self.assignment_id)
        parts = path.strip("/").split("/")
        if parts[:2] != ["api", "v1"]:
            return 404, {"errors": [{"message": "The specified resource does not exist."}]}
        parts = parts[2:]
        if method == "GET" and parts == ["courses", course]:
            return 200, self.course()
        if method == "GET" and parts == ["courses", course, "assignments", assignment]:
            return 200, self.assignment()
        if method == "POST" and parts == ["courses", course, "assignments", assignment, "submissions",
                                          "update_grades"]:
            return self.bulk_update(form)
        if method == "GET" and len(parts) == 2 and parts[0] == "progress" and parts[1].isdigit():
            return self.query(int(parts[1]))
        return 404, {"errors": [{"message": "The specified resource does not exist."}]}


def _handler(canvas: FakeCanvas) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode("utf-8") if length else ""
            form = parse_qsl(body, keep_blank_values=True) if "form-urlencoded" in \
                (self.headers.get("Content-Type") or "") else []
            path = urlsplit(self.path).path
            with canvas.lock:
                canvas.requests.append(Request(self.command, path, dict(self.headers.items()), form))
                if self.headers.get("Authorization") != f"Bearer {canvas.token}":
                    status, payload, extra = 401, {"errors": [{"message": "Invalid access token."}]}, \
                        {"WWW-Authenticate": 'Bearer realm="canvas-lms"'}
                else:
                    (status, payload), extra = canvas.answer(self.command, path, form), {}
            data = json.dumps(payload).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            for name, value in extra.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = _serve

    return Handler
