"""The parallel engine: one warm parent, one forked child per submission, at most N at a time.

The parent builds one ``Grader`` (one sandbox zygote, whose SOCK_SEQPACKET control socket keeps
concurrent requests from different children apart), imports pytest, moto, the hidden suites and
the quiz bank, starts moto's patching and keeps it for the children, configures pytest and
collects the suites once (``Grader.prepare``), then freezes the garbage collector so that forked
children share its memory instead of copying it. Each child grades exactly one submission
(``Grader.grade``), writes the result as JSON on a pipe and leaves with ``os._exit``: a pytest run
leaves state behind (modules, ``sys.path``, plugins), and no student is ever graded in a process
that graded another. The student's code itself never runs here, only in the zygote's sandboxed
workers.

A child past the per-submission wall limit is killed: that student is "timed out", 0 points. A
submission that cannot be opened is "unreadable", 0 points. Both keep every exercise's tests (all
at 0, with the reason) so that their maximum is the class's maximum. A child that dies without a
result is a fault of ours: "grader error", 0 points, graded again on the next run; so is a child
that sends something other than a result, or more than ``MAX_PAYLOAD`` bytes of it. Whatever a
child did, and whatever its student's code left in its temporary folder, the parent goes on.
"""
from __future__ import annotations

import gc
import importlib
import json
import os
import secrets
import select
import selectors
import signal
import sys
import tempfile
import time
import traceback
import warnings
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from grader.amqp import service
from grader.amqp.admin import Lease
from grader.bulk.cleanup import remove_stale, remove_tree
from grader.bulk.sources import Student
from grader.machine import cores
from grader.results import ExerciseResult, Status, SubmissionResult, TestResult

DEFAULT_TIMEOUT = 120.0
SHM_NEEDED = 1 << 30
TEMPLATE_TIMEOUT = 60.0
TMP_PREFIX = "brokerlab-bulk-"
PR_SET_PDEATHSIG = 1
GRADER_ERROR = "grader error"
MAX_PAYLOAD = 64 * 1024 * 1024  # far above any result, whose strings are cut (grader.results)
FAULT = "the grader failed on this submission; it is not your fault and your instructor has been told"


@dataclass
class Outcome:
    student: Student
    result: SubmissionResult
    seconds: float
    maxrss_kb: int = 0
    note: str = ""  # for the instructor: what went wrong on our side


@dataclass
class _Job:
    student: Student
    pid: int
    fd: int
    started: float
    tmp: Path
    buffer: bytearray
    tag: str = ""  # names the virtual hosts it makes (service.lease_prefix)
    leases: list[Lease] = field(default_factory=list)  # the clean virtual hosts it was handed


def default_jobs(rabbitmq: bool = False) -> int:
    """One more than the cores: a job alternates between its grading child and its student's box
    (a request, an answer), so it never keeps a core busy on its own; the extra job fills the gaps
    (on 2 cores, 3 jobs grade a class about 17% faster than 2, and 4 no faster than 3). Two more
    with RabbitMQ: a job then also waits on the broker, and on the broker's real timeouts (on 2
    cores, 4 jobs graded an AMQP class 5-14% faster than 3 in interleaved runs)."""
    return cores() + (2 if rabbitmq else 1)


def warm_up() -> None:
    """Import and exercise, once, what every child needs: pytest, moto, the suites, the quizzes."""
    import pytest  # noqa: F401

    import grader.harness.plugin  # noqa: F401
    import grader.runner
    from grader.harness.broker import Broker, keep_mock
    from grader.harness.clock import VirtualClock
    from grader.paths import SUITES

    for exercise in grader.runner.EXERCISES:
        if (SUITES / f"test_{exercise}.py").exists():
            with warnings.catch_warnings():  # an outer pytest (our own tests) does not know the grade mark
                warnings.simplefilter("ignore")
                importlib.import_module(f"grader.suites.test_{exercise}")  # the name pytest's importlib mode uses
    import boto3
    import botocore.exceptions

    keep_mock()  # until the pool closes: the children inherit it started
    with VirtualClock() as clock, Broker(clock) as broker:
        url = broker.create_queue("warm-up", VisibilityTimeout=30)
        sqs = boto3.client("sqs", region_name="us-east-1", aws_access_key_id="warm", aws_secret_access_key="up")
        sqs.send_message(QueueUrl=url, MessageBody="{}")  # moto's request path, as workers' requests take it
        sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1, WaitTimeSeconds=0)
        broker.attributes(url)
        try:  # moto's first error response lists every botocore service (~20 ms): once here
            sqs.get_queue_url(QueueName="warm-up-missing")
        except botocore.exceptions.ClientError:
            pass
    try:
        import grader.quiz.grading  # noqa: F401
        from grader.quiz.loader import load_bank

        load_bank()
    except Exception:  # a broken quiz bank is reported by each child, per student
        pass


def _die_with(parent: int) -> None:
    """Have the kernel kill this child if the parent dies (a killed run leaves nothing behind)."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # it died before we asked
        os._exit(1)


def scratch_root() -> str | None:
    """Where the children's temporary folders go: memory (``/dev/shm``) when there is room.

    Each test's scratch folder, the staged files and the payment tests' sqlite databases live
    there; on a disk every sqlite commit waits for an fsync. An explicit ``TMPDIR`` is obeyed.
    """
    if os.environ.get("TMPDIR"):
        return None
    shm = "/dev/shm"
    try:
        stat = os.statvfs(shm)
    except OSError:
        return None
    if stat.f_bavail * stat.f_frsize < SHM_NEEDED or not os.access(shm, os.W_OK | os.X_OK):
        return None
    return shm


def _a_lease(entry: Any) -> bool:
    """A passed-back lease as this run's children name them: (virtual host, its user, password)."""
    return (isinstance(entry, list) and len(entry) == 3 and all(isinstance(x, str) and 0 < len(x) < 200 for x in entry)
            and entry[0] == entry[1] and entry[0].startswith(service.RUN_PREFIX))


def blank(template: SubmissionResult, status: str, reason: str) -> SubmissionResult:
    """Every exercise of ``template`` at 0, each test saying ``reason``: the class's maximum, no points."""
    exercises: dict[str, ExerciseResult] = {}
    for key, exercise in template.exercises.items():
        tests = [TestResult(name=t.name, score=0.0, max_score=t.max_score, status=Status.ERROR,
                            feedback=f"Not graded: {reason}", concept=t.concept, visibility=t.visibility)
                 for t in exercise.tests]
        exercises[key] = ExerciseResult(kind=exercise.kind, feedback=reason, tests=tests)
    return SubmissionResult(exercises=exercises, status=status, sandbox=template.sandbox, seed=template.seed)


class Pool:
    """Grades submissions in forked children of one warm parent; use as a context manager."""

    def __init__(self, jobs: int | None = None, timeout: float = DEFAULT_TIMEOUT, sandbox: str | None = None,
                 seed: int | None = None, rabbitmq: bool = True) -> None:
        """``rabbitmq``: start the run's one broker now, for the children to share (a class with no
        AMQP file leaves it off: it costs seconds of CPU to start and keeps a core busy)."""
        self.jobs = max(1, jobs or default_jobs(rabbitmq))
        self.rabbitmq = rabbitmq
        self.timeout = timeout
        self.sandbox, self.seed = sandbox, seed
        self.grader: Any = None
        self.tmp: Path | None = None
        self._template: SubmissionResult | None = None
        self._making_template = False
        self._running: dict[int, _Job] = {}
        self._stock: list[Lease] = []  # clean virtual hosts passed back by finished children, for the next ones
        self._debug = bool(os.environ.get("BROKERLAB_DEBUG"))
        self._parent = os.getpid()

    # lifecycle ------------------------------------------------------------------------------------
    def __enter__(self) -> "Pool":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        from grader.grade import Grader

        root = scratch_root()
        remove_stale(Path(root or tempfile.gettempdir()), TMP_PREFIX)
        self.tmp = Path(tempfile.mkdtemp(prefix=f"{TMP_PREFIX}{os.getpid()}-", dir=root))
        os.chmod(self.tmp, 0o711)
        (self.tmp / "empty").mkdir()
        try:
            self.grader = Grader(sandbox=self.sandbox, seed=self.seed, broker="eager" if self.rabbitmq else "lazy")
            warm_up()
            self.grader.prepare()
            if self.grader.unprepared:
                print(f"brokerlab: note: pytest could not be prepared once for the class ({self.grader.unprepared}); "
                      "each student's grading configures it again, which is slower", file=sys.stderr)
        except BaseException:  # nothing of a half-started pool stays (moto's patching, the zygote, the folder)
            self.close()
            raise
        gc.collect()
        gc.freeze()

    def close(self) -> None:
        for job in list(self._running.values()):
            self._kill(job)
        self._running.clear()
        if self._stock:
            service.discard(self._stock)
            self._stock = []
        if self.grader is not None:
            self.grader.close()
            self.grader = None
        if self.tmp is not None:
            remove_tree(self.tmp)
            self.tmp = None
        from grader.harness.broker import keep_mock

        keep_mock(False)
        gc.unfreeze()

    # grading --------------------------------------------------------------------------------------
    def run(self, students: Iterable[Student], on_done: Callable[[Outcome], None],
            on_start: Callable[[Student], None] | None = None,
            on_tick: Callable[[], None] | None = None) -> None:
        """Grade every student, calling ``on_done`` in this process as each one finishes."""
        queue = deque(students)
        selector = selectors.DefaultSelector()
        try:
            while queue or self._running:
                while queue and len(self._running) < self.jobs:
                    student = queue.popleft()
                    try:
                        job = self._fork(student)
                    except OSError as exc:  # no process or pipe left for now: that student only
                        on_done(Outcome(student, self._blank(GRADER_ERROR, FAULT), 0.0, 0,
                                        f"could not start grading ({exc})"))
                        continue
                    self._running[job.fd] = job
                    selector.register(job.fd, selectors.EVENT_READ, job)
                    if on_start:
                        on_start(student)
                for key, _ in selector.select(timeout=0.2):
                    job = key.data
                    chunk = os.read(job.fd, 1 << 16)
                    if chunk and len(job.buffer) + len(chunk) <= MAX_PAYLOAD:
                        job.buffer += chunk
                        continue
                    selector.unregister(job.fd)
                    on_done(self._finish(job) if not chunk else self._overflow(job))
                if on_tick:
                    on_tick()
                now = time.monotonic()
                for job in [j for j in self._running.values() if now - j.started > self.timeout]:
                    selector.unregister(job.fd)
                    on_done(self._expire(job))
        finally:
            for job in list(self._running.values()):
                try:
                    selector.unregister(job.fd)
                except (KeyError, ValueError):
                    pass
                self._kill(job)
            selector.close()

    def grade_one(self, student: Student, timeout: float | None = None) -> Outcome:
        """Grade one submission in a child and wait for it (used for the blank template)."""
        job = self._fork(student)
        self._running[job.fd] = job
        deadline = job.started + (timeout or self.timeout)
        while True:
            ready, _, _ = select.select([job.fd], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                return self._expire(job)
            chunk = os.read(job.fd, 1 << 16)
            if not chunk:
                return self._finish(job)
            if len(job.buffer) + len(chunk) > MAX_PAYLOAD:
                return self._overflow(job)
            job.buffer += chunk

    def template(self) -> SubmissionResult:
        """What an empty submission gets: every exercise's tests, all at 0."""
        if self._template is None:
            assert self.tmp is not None
            if self._making_template:
                raise RuntimeError("the empty submission could not be graded")
            self._making_template = True
            try:
                outcome = self.grade_one(Student("", self.tmp / "empty"), max(self.timeout, TEMPLATE_TIMEOUT))
            finally:
                self._making_template = False
            if outcome.result.status != "empty":
                raise RuntimeError(f"the empty submission could not be graded ({outcome.note})")
            self._template = outcome.result
        return self._template

    # children -------------------------------------------------------------------------------------
    def _fork(self, student: Student) -> _Job:
        assert self.tmp is not None and self.grader is not None
        tmp = Path(tempfile.mkdtemp(prefix="job-", dir=self.tmp))
        os.chmod(tmp, 0o711)
        read_fd, write_fd = os.pipe()
        tag, leases = secrets.token_hex(4), self._hand_down()
        try:
            if self.rabbitmq:
                service.hand_down(leases, tag)
            pid = os.fork()
            if pid == 0:  # the child: never returns
                os.close(read_fd)
                self._child(student, write_fd, tmp)
        except OSError:
            self._stock[:0] = leases
            os.close(read_fd)
            os.close(write_fd)
            raise
        finally:  # in this process only: the next fork gets its own
            if self.rabbitmq:
                service.hand_down([])
        os.close(write_fd)
        return _Job(student, pid, read_fd, time.monotonic(), tmp, bytearray(), tag, leases)

    def _hand_down(self) -> list[Lease]:
        """The clean virtual hosts the next child takes first (a finished child's, passed back):
        making and deleting them for every student cost the broker more than its tests did."""
        count = service.handed()
        leases, self._stock = self._stock[:count], self._stock[count:]
        return leases

    def _take_back(self, job: _Job, payload: dict[str, Any]) -> None:
        """Keep the clean virtual hosts a child that ended well passed back (only names this
        run's children make), for the next children; more than they can use are deleted."""
        passed = payload.get("leases")
        back = [Lease(*entry) for entry in passed if _a_lease(entry)] if isinstance(passed, list) else []
        names = {lease.vhost for lease in back}
        service.discard([lease for lease in job.leases if lease.vhost not in names])
        service.forget(job.tag, keep=names)  # what it made and could not clear in time
        job.leases = []
        held = {lease.vhost for lease in self._stock} | {x.vhost for j in self._running.values() for x in j.leases}
        self._stock.extend(lease for lease in back if lease.vhost not in held)  # never two holders of one
        room = self.jobs * service.handed()
        if len(self._stock) > room:
            service.discard(self._stock[room:])
            del self._stock[room:]

    def _child(self, student: Student, write_fd: int, tmp: Path) -> None:
        code = 0
        try:
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops us; a half run must never be sent
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            _die_with(self._parent)
            for fd in [j.fd for j in self._running.values()]:
                try:
                    os.close(fd)
                except OSError:
                    pass
            if not self._debug:
                null = os.open(os.devnull, os.O_RDWR)
                for fd in (0, 1, 2):
                    os.dup2(null, fd)
                os.close(null)
            tempfile.tempdir = str(tmp)
            os.environ["TMPDIR"] = str(tmp)
            if self.rabbitmq:
                service.pass_on()
            payload = {"result": self._grade(student).to_json_dict()}
            if self.rabbitmq:
                payload["leases"] = [[x.vhost, x.user, x.password] for x in service.passed()]
        except BaseException as exc:  # noqa: BLE001 - everything is reported to the parent
            payload = {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()[-4000:]}
            code = 1
        try:
            data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
            view = memoryview(data)
            while view:
                written = os.write(write_fd, view)
                view = view[written:]
        finally:
            os._exit(code)

    def _grade(self, student: Student) -> SubmissionResult:
        from grader.submission import UnreadableSubmission

        assert self.tmp is not None
        reason = student.refused
        if reason is None and student.path is not None:
            try:
                return self.grader.grade(student.path)
            except UnreadableSubmission as exc:
                reason = str(exc).replace(str(student.path), student.path.name)
        template = self.grader.grade(self.tmp / "empty")
        return blank(template, "unreadable", reason or "the submission cannot be opened")

    def _finish(self, job: _Job) -> Outcome:
        """The child closed its pipe: reap it and read its result."""
        self._running.pop(job.fd, None)
        os.close(job.fd)
        _, status, usage = os.wait4(job.pid, 0)
        seconds = time.monotonic() - job.started
        remove_tree(job.tmp)
        ended_well = not os.WIFSIGNALED(status) and os.WEXITSTATUS(status) == 0
        if not ended_well:
            self._forget_on_broker(job)
        maxrss = int(usage.ru_maxrss)
        how = (f"killed by signal {os.WTERMSIG(status)}" if os.WIFSIGNALED(status)
               else f"exit status {os.WEXITSTATUS(status)}")
        try:
            payload = json.loads(job.buffer.decode("utf-8"))
            if not isinstance(payload, dict):
                raise TypeError("not an object")
            if "result" in payload:
                if self.rabbitmq and ended_well:
                    self._take_back(job, payload)
                return Outcome(job.student, SubmissionResult.from_json_dict(payload["result"]), seconds, maxrss)
            note = f"{payload.get('error')}\n{str(payload.get('traceback', ''))[-4000:]}"
        except Exception as exc:  # noqa: BLE001 - whatever the child sent, this student gets a row
            note = f"the grading process ended without a result ({how}; {type(exc).__name__})"
        if ended_well:  # exited without passing its leases back: they may hold anything
            self._forget_on_broker(job)
        return Outcome(job.student, self._blank(GRADER_ERROR, FAULT), seconds, maxrss, note.strip())

    def _overflow(self, job: _Job) -> Outcome:
        seconds = time.monotonic() - job.started
        self._kill(job)
        note = f"the grading process sent more than {MAX_PAYLOAD // 2**20} MiB instead of a result"
        return Outcome(job.student, self._blank(GRADER_ERROR, FAULT), seconds, 0, note)

    def _expire(self, job: _Job) -> Outcome:
        seconds = time.monotonic() - job.started
        self._kill(job)
        reason = f"grading this submission took more than {self.timeout:g} s of real time and was stopped"
        return Outcome(job.student, self._blank("timed out", reason), seconds, 0, reason)

    def _kill(self, job: _Job) -> None:
        self._running.pop(job.fd, None)
        try:
            os.kill(job.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            os.waitpid(job.pid, 0)
        except ChildProcessError:
            pass
        try:
            os.close(job.fd)
        except OSError:
            pass
        remove_tree(job.tmp)
        self._forget_on_broker(job)

    def _forget_on_broker(self, job: _Job) -> None:
        """A child that was killed or crashed never removed its virtual hosts and users, nor passed
        back those it was handed: remove them all."""
        if self.rabbitmq:
            service.discard(job.leases)
            job.leases = []
            service.forget(job.tag)

    def _blank(self, status: str, reason: str) -> SubmissionResult:
        try:
            template = self.template()
        except Exception:  # noqa: BLE001 - without a template the row still says why, at 0
            template = SubmissionResult()
        return blank(template, status, reason)
