"""The pytest plugin the hidden suites run under.

It guarantees: every test has points (``@pytest.mark.grade``); every outcome becomes one
``TestResult`` whose feedback names the concept the code got wrong, never the test's source; the
student's code only ever runs in a worker (the ``producer``, ``consumer`` and ``payment``
fixtures), on a fresh broker and a virtual clock per test, with data, account, region, endpoint and
time zone drawn from the course seed (``course``, ``data``); an exercise whose file cannot be
imported is tried once, and its tests all score 0 with that one reason. An exercise's tests share
one worker in order (as calls within a test do), and a worker that crashed or ran out of time is
replaced by a fresh copy of the freshly imported module before the next test.
"""
from __future__ import annotations

import errno
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import pytest

from grader.amqp.node import BrokerUnavailable
from grader.harness.broker import Broker, start_mock
from grader.harness.clock import VirtualClock
from grader.harness.payments import PaymentWorld
from grader.harness.seeded import Course, Data
from grader.harness.verdict import Mistake, PreconditionBroken, expect  # noqa: F401 - the suites' API
from grader.results import Status, TestResult
from grader.sandbox.client import (Limits, MissingFunction, NotGradable, Sandbox, SandboxFailure, SqsClient,
                                   StudentCrashed, StudentFailure, StudentProcess, StudentRaised, StudentTimeout,
                                   Zygote)
from grader.sandbox.scratch import ScratchSpace

MODULE_NAMES = {"producer": "sqs_producer", "consumer": "sqs_consumer", "payment": "payment_handler",
                "amqp_producer": "amqp_producer", "amqp_consumer": "amqp_consumer", "amqp_routing": "amqp_routing"}
OUTPUT_IN_FEEDBACK = 2000


class SpaceFull(StudentFailure):
    """The student's code filled its exercise's scratch space: a later test has no room to start."""

    def __init__(self) -> None:
        super().__init__("your code filled its scratch space (no space or inodes left), so this test "
                         "could not even start: clean up what your code writes.")


@dataclass
class Submission:
    """The exercise files of one submission, as the runner staged them."""

    files: dict[str, bytes]                     # exercise -> the file's bytes
    problems: dict[str, str] = field(default_factory=dict)  # exercise -> why it cannot be graded


class GradingPlugin:
    """Fixtures and result collection for one grading run of one submission."""

    def __init__(self, submission: Submission | None, zygote: Zygote, sandbox: dict[str, Any] | None = None,
                 limits: Limits | None = None, seed: int | None = None) -> None:
        """Without a ``submission`` the plugin only serves collection (a prepared run: ``begin``
        gives it its submission later, in the process that grades it)."""
        # the hidden suites run with a course (seeded); the public checks on moto's defaults
        self._course = Course.from_seed(seed) if seed is not None else None
        self.zygote = zygote
        self.sandbox = sandbox or {}
        self.limits = limits or Limits()
        self._mock: Any = None
        self.results: dict[str, list[TestResult]] = {}
        self.not_gradable: dict[str, str] = {}
        self.space: ScratchSpace | None = None
        if submission is not None:
            self.begin(submission)

    def begin(self, submission: Submission) -> None:
        """Take on the one submission this plugin grades: nothing of another's is kept."""
        self.submission = submission
        self.results = {}
        self.not_gradable = dict(submission.problems)
        self.space = ScratchSpace(bool(self.sandbox.get("isolate")))
        self._outcomes: dict[str, tuple[BaseException | None, str]] = {}
        self._students: dict[str, StudentProcess] = {}
        self._sandboxes: dict[str, Sandbox] = {}
        self._live: dict[str, StudentProcess] = {}  # per exercise: the copy serving its tests

    def close(self) -> None:
        if self.space is None:
            return
        for student in self._live.values():
            student.kill()
        for sandbox in self._sandboxes.values():
            sandbox.close()
        if self._mock is not None:
            self._mock.stop()
            self._mock = None
        from grader.amqp import service

        service.release_leases()  # the run's virtual hosts and users go with it (in a class run: to the next child)
        self.space.close()
        self.space = None

    # -- fixtures ------------------------------------------------------------------------------------
    @pytest.fixture
    def clock(self) -> Iterator[VirtualClock]:
        """Virtual time, frozen at the course's date; moves only when something waits."""
        with VirtualClock() as clock:
            yield clock

    @pytest.fixture
    def aws(self) -> None:
        """moto's AWS mock, started once for the run (``close`` stops it): no request leaves the process."""
        if self._mock is None:
            self._mock = start_mock()  # None again where the process keeps one (``keep_mock``)

    @pytest.fixture
    def course(self) -> Course | None:
        """The run's account, region, endpoint and time zone (from the course seed)."""
        return self._course

    @pytest.fixture
    def data(self, request: pytest.FixtureRequest) -> Data:
        """This test's names, task contents, amounts and ids (from the seed and the test's name)."""
        return (self._course or Course.from_seed(0)).data(request.node.name)

    @pytest.fixture
    def sqs(self) -> SqsClient:
        """Stands for the SQS client handed to the student's functions: the only one the broker
        serves outside main()."""
        if self._course is None:
            return SqsClient()
        return SqsClient(region=self._course.region, key=self._course.key)

    @pytest.fixture
    def broker(self, aws: None, clock: VirtualClock, request: pytest.FixtureRequest) -> Iterator[Broker]:
        """A fresh, empty moto SQS for this test, in the run's account and region."""
        with Broker(clock, self._course, request.node.name) as broker:
            yield broker

    @pytest.fixture
    def scratch(self, request: pytest.FixtureRequest) -> Path:
        """A folder of this test's own in its exercise's scratch space, that the student's code may
        write in (handed over to the box's user when the student's code starts)."""
        try:
            return self.space.test_folder(_exercise_of(request.node), request.node.name)
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise SpaceFull() from None
            raise

    @pytest.fixture
    def amqp(self) -> Iterator[Any]:
        """This test's RabbitMQ: a virtual host of its own, the student's relayed connection, the
        grader's own (the run's broker is started on first use)."""
        from grader.harness.amqp import AmqpWorld

        with AmqpWorld() as world:
            yield world

    def _sandbox(self, exercise: str) -> Sandbox:
        if exercise not in self._sandboxes:
            settings = {**self.sandbox, **({"env": self._course.box_env()} if self._course else {})}
            if exercise.startswith("amqp_"):
                settings["loopback"] = True
            self._sandboxes[exercise] = Sandbox(self.zygote, MODULE_NAMES[exercise], self.submission.files[exercise],
                                                self.space, exercise, self.limits, settings)
        return self._sandboxes[exercise]

    def _student(self, exercise: str, broker: Broker, scratch: Path, request: pytest.FixtureRequest
                 ) -> Iterator[StudentProcess]:
        if exercise in self.not_gradable:
            raise NotGradable(self.not_gradable[exercise])
        sandbox = self._sandbox(exercise)
        try:
            if sandbox.sock is None:
                sandbox.start(broker)
        except NotGradable as exc:
            self.not_gradable[exercise] = str(exc)
            raise
        sandbox.hand_over(scratch)
        student = self._live.get(exercise)
        if student is not None and student.alive:
            student.enter(scratch, broker)
        if student is None or not student.alive:
            student = StudentProcess(sandbox, scratch, broker, self.limits)
            student.start()
            self._live[exercise] = student
        self._students[request.node.nodeid] = student
        yield student

    @pytest.fixture
    def producer(self, broker: Broker, scratch: Path, request: pytest.FixtureRequest) -> Iterator[StudentProcess]:
        """The student's sqs_producer.py, imported in a worker."""
        yield from self._student("producer", broker, scratch, request)

    @pytest.fixture
    def consumer(self, broker: Broker, scratch: Path, request: pytest.FixtureRequest) -> Iterator[StudentProcess]:
        """The student's sqs_consumer.py, imported in a worker."""
        yield from self._student("consumer", broker, scratch, request)

    @pytest.fixture
    def payment(self, broker: Broker, scratch: Path, request: pytest.FixtureRequest) -> Iterator[StudentProcess]:
        """The student's payment_handler.py, imported in a worker."""
        yield from self._student("payment", broker, scratch, request)

    def _amqp_student(self, exercise: str, scratch: Path, request: pytest.FixtureRequest) -> Iterator[StudentProcess]:
        if exercise in self.not_gradable:  # before the broker: a missing file needs none
            raise NotGradable(self.not_gradable[exercise])
        if "amqp" not in request.fixturenames:  # a test of pure functions: no broker, no connection
            from grader.harness.amqp import Offline

            yield from self._student(exercise, Offline(), scratch, request)
            return
        world = request.getfixturevalue("amqp")
        for student in self._student(exercise, world, scratch, request):
            world.attach(student, connect=request.node.get_closest_marker("student_connects") is None)
            yield student

    @pytest.fixture
    def amqp_producer(self, scratch: Path, request: pytest.FixtureRequest) -> Iterator[StudentProcess]:
        """The student's amqp_producer.py, imported in a worker, with this test's broker connection."""
        yield from self._amqp_student("amqp_producer", scratch, request)

    @pytest.fixture
    def amqp_consumer(self, scratch: Path, request: pytest.FixtureRequest) -> Iterator[StudentProcess]:
        """The student's amqp_consumer.py, imported in a worker, with this test's broker connection."""
        yield from self._amqp_student("amqp_consumer", scratch, request)

    @pytest.fixture
    def amqp_routing(self, scratch: Path, request: pytest.FixtureRequest) -> Iterator[StudentProcess]:
        """The student's amqp_routing.py, imported in a worker, with this test's broker connection."""
        yield from self._amqp_student("amqp_routing", scratch, request)

    @pytest.fixture
    def shop(self, scratch: Path, data: Data, request: pytest.FixtureRequest) -> PaymentWorld:
        """One pending order, its payment message, a gateway, a mailer, and the student's handler
        (started after the database exists, so the sandbox hands it over to the worker); a test
        marked ``orders(n)`` gets n orders in the same database."""
        marker = request.node.get_closest_marker("orders")
        try:
            world = PaymentWorld(None, scratch, self.space, data, orders=marker.args[0] if marker else 1,
                                 **(marker.kwargs if marker else {}))
        except (OSError, sqlite3.OperationalError) as exc:
            if isinstance(exc, OSError) and exc.errno not in (errno.ENOSPC, errno.EDQUOT):
                raise
            raise SpaceFull() from None
        world.student = request.getfixturevalue("payment")
        return world

    # -- hooks ---------------------------------------------------------------------------------------
    def pytest_configure(self, config: pytest.Config) -> None:
        config.addinivalue_line("markers", "grade(points, concept, lesson): points and teaching of a test")
        config.addinivalue_line("markers", "orders(n, amount_cents=None): n orders in one database")
        config.addinivalue_line("markers", "student_connects: the student's code opens the test's broker connection "
                                           "itself (main()), the worker does not open it first")

    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        """An exercise known not to be gradable before anything runs (its file missing, empty or
        not text) gets its tests' results now, each with that one reason, and none of them runs
        (a prepared run calls it again once it has its submission)."""
        known = dict(self.not_gradable)
        kept = []
        for item in items:
            exercise = _exercise_of(item)
            if exercise in known:
                self._outcomes[item.nodeid] = (NotGradable(known[exercise]), "setup")
                self._record(item)
            else:
                kept.append(item)
        items[:] = kept

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo) -> pytest.TestReport | None:
        """Record the phase's outcome, and report it without pytest's traceback rendering: results
        come from the exception itself (``_record``), and the rendering parses the suite's source
        again on every failure (~25 ms each, most of a failing submission's grading)."""
        error = call.excinfo.value if call.excinfo is not None else None
        if error is not None and item.nodeid not in self._outcomes:
            self._outcomes[item.nodeid] = (error, call.when)
        if call.when == "teardown":
            self._record(item)
        if isinstance(error, pytest.skip.Exception):
            return None  # pytest's own report (a skip needs its location)
        return pytest.TestReport(item.nodeid, item.location, dict.fromkeys(item.keywords, 1),
                                 "passed" if error is None else "failed", None if error is None else _brief(error),
                                 call.when, duration=call.duration, start=call.start, stop=call.stop,
                                 user_properties=item.user_properties)

    def _record(self, item: pytest.Item) -> None:
        marker = item.get_closest_marker("grade")
        points = float(marker.kwargs.get("points", 1)) if marker else 1.0
        concept = marker.kwargs.get("concept") if marker else None
        lesson = marker.kwargs.get("lesson", "") if marker else ""
        exercise = _exercise_of(item)
        name = item.name.removeprefix("test_")
        error, when = self._outcomes.pop(item.nodeid, (None, "call"))
        student = self._students.pop(item.nodeid, None)
        result = classify(name, points, concept, lesson, error, when)
        world = (getattr(item, "funcargs", None) or {}).get("amqp")
        why = world.cut_reason() if world is not None and result.status is Status.FAILED else None
        if why:
            result.feedback = f"{result.feedback} (The grader cut your code's broker connection: {why}.)"
        if student is not None and result.status is not Status.PASSED:
            output = student.output()
            result.output = output[-OUTPUT_IN_FEEDBACK:] if output else None
        self.results.setdefault(exercise, []).append(result)


def _brief(error: BaseException) -> str:
    """One line for pytest's report; an exception whose text cannot be made still gets one."""
    try:
        return f"{type(error).__name__}: {error}"[:2000]
    except Exception:  # noqa: BLE001
        return type(error).__name__


def _exercise_of(item: pytest.Item) -> str:
    return item.module.__name__.rsplit(".", 1)[-1].removeprefix("test_")


def classify(name: str, points: float, concept: str | None, lesson: str,
             error: BaseException | None, when: str) -> TestResult:
    """Turn a test's outcome into points and feedback a student can learn from."""
    def result(status: Status, feedback: str, traceback: str | None = None) -> TestResult:
        score = points if status is Status.PASSED else 0.0
        return TestResult(name=name, score=score, max_score=points, status=status, feedback=feedback,
                          concept=concept, traceback=traceback)

    def taught(text: str) -> str:
        return f"{text} {lesson}".strip() if lesson else text

    if error is None:
        return result(Status.PASSED, "")
    if isinstance(error, NotGradable):
        return result(Status.ERROR, f"Not graded: {error}")
    if isinstance(error, BrokerUnavailable):
        return result(Status.GRADER_ERROR, f"The grader has no RabbitMQ to run this test against ({error}); it is "
                                           "not your fault and your instructor has been told.")
    if isinstance(error, SandboxFailure):
        return result(Status.GRADER_ERROR, f"The grader could not set up the sandbox for this test ({error}); "
                                           "it is not your fault and your instructor has been told.")
    if isinstance(error, Mistake):
        return result(Status.FAILED, taught(str(error)))
    if isinstance(error, StudentTimeout):
        return result(Status.TIMEOUT, taught(f"{error.function}() never finished: {error}."))
    if isinstance(error, StudentRaised):
        return result(Status.FAILED, taught(f"{error.function}() raised {error.type_name}: {error.message}"),
                      error.traceback)
    if isinstance(error, MissingFunction):
        return result(Status.FAILED, f"{error} (the contract names it: check its spelling and signature).")
    if isinstance(error, StudentCrashed):
        return result(Status.FAILED, taught(f"{error.function}(): {error}."))
    if isinstance(error, StudentFailure):
        return result(Status.FAILED, taught(str(error)))
    return result(Status.GRADER_ERROR, f"The grader hit an internal error in this test ({type(error).__name__}: "
                                       f"{error}); it is not your fault and your instructor has been told.")
