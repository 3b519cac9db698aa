"""The trust boundary, attacked from outside: each test plants what a hostile submission would and
asserts what must not happen (the canary that must stay root's and unchanged, the secret that must
appear in no output, the listener that must see no connection, the process that must not survive,
the classmate whose score must not move). The hostile files are in tests/adversarial/boundary/.
Full isolation needs root, as CI and grading machines have.
"""
from __future__ import annotations

import errno
import json
import os
import platform
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from grader.grade import Grader
from grader.paths import ROOT, SOLUTIONS
from grader.results import Status
from grader.sandbox import isolation, protocol
from grader.sandbox.isolation import UID_BASE

BOUNDARY = Path(__file__).parent / "adversarial" / "boundary"
root_only = pytest.mark.skipif(os.geteuid() != 0, reason="the sandbox's isolation needs root")
pytestmark = root_only


def hostile(tmp_path: Path, name: str, exercise_file: str = "sqs_producer.py", **replace: str) -> Path:
    """A submission whose ``exercise_file`` is the hostile file, the other two the references."""
    folder = tmp_path / "mallory"
    folder.mkdir()
    source = (BOUNDARY / name).read_text()
    for key, value in replace.items():
        source = source.replace(f"__{key}__", value)
    (folder / exercise_file).write_text(source)
    for other in ("sqs_producer.py", "sqs_consumer.py", "payment_handler.py"):
        if other != exercise_file:
            shutil.copy(SOLUTIONS / other, folder / other)
    return folder


def appended(tmp_path: Path, **files: str) -> Path:
    """A submission of the reference files, with the hostile code ``files[exercise_file]`` names
    appended to that exercise's reference (its functions replaced after the honest ones)."""
    folder = tmp_path / "mallory"
    folder.mkdir()
    for other in ("sqs_producer.py", "sqs_consumer.py", "payment_handler.py"):
        text = (SOLUTIONS / other).read_text()
        name = files.get(other.removesuffix(".py"))
        (folder / other).write_text(text if name is None else text + "\n\n" + (BOUNDARY / name).read_text())
    return folder


def everything_said(result) -> str:
    """Every byte of a result a person or a program downstream would read."""
    return json.dumps(result.to_json_dict())


def no_grader_errors(result) -> None:
    errors = [(k, t.name, t.feedback) for k, e in result.exercises.items() for t in e.tests
              if t.status is Status.GRADER_ERROR]
    assert errors == []


@pytest.fixture
def canary(tmp_path: Path):
    """A root-owned file and a root-only secret, outside anything the box binds."""
    folder = Path("/root") if os.path.isdir("/root") else tmp_path
    token = secrets.token_hex(12)
    canary_path = folder / f"brokerlab-canary-{token[:8]}"
    secret_path = folder / f"brokerlab-secret-{token[:8]}"
    canary_path.write_text("untouched")
    secret_path.write_text(f"SECRET-{token}")
    os.chmod(canary_path, 0o644)
    os.chmod(secret_path, 0o600)
    yield canary_path, secret_path, token
    canary_path.unlink(missing_ok=True)
    secret_path.unlink(missing_ok=True)


# -- 1. files ----------------------------------------------------------------------------------------

def test_links_and_fifos_planted_everywhere_redirect_nothing(grader, tmp_path, canary):
    canary_path, secret_path, token = canary
    result = grader.grade(hostile(tmp_path, "plant_links.py", CANARY=str(canary_path), SECRET=str(secret_path)))
    assert canary_path.read_text() == "untouched"
    assert canary_path.stat().st_uid == 0 and secret_path.stat().st_uid == 0
    assert token not in everything_said(result)
    assert result.exercises["producer"].score == 0
    assert result.exercises["consumer"].score == result.exercises["consumer"].max_score
    assert result.exercises["payment"].score == result.exercises["payment"].max_score
    no_grader_errors(result)


def test_a_swapped_database_is_never_read_through(grader, tmp_path, canary):
    _canary, _secret, token = canary
    forged = tmp_path / "forged.sqlite3"
    import sqlite3

    with sqlite3.connect(forged) as db:  # says every order is paid: worth points if read through a link
        db.execute("CREATE TABLE orders (order_id TEXT PRIMARY KEY, amount_cents INTEGER, status TEXT, charge_id TEXT)")
        db.execute("CREATE TABLE secret (x TEXT)")
        db.execute("INSERT INTO secret VALUES (?)", (f"SECRET-{token}",))
    os.chmod(forged, 0o600)
    start = time.monotonic()
    result = grader.grade(hostile(tmp_path, "swap_database.py", "payment_handler.py", TARGET=str(forged)))
    assert time.monotonic() - start < 120, "a FIFO in place of the database hung the grader"
    payment = result.exercises["payment"]
    settled = [t for t in payment.tests if t.name.startswith(("charges_once", "completed_message"))]
    assert settled and not any(t.passed for t in settled)
    assert token not in everything_said(result)
    no_grader_errors(result)


# -- 2. environment ----------------------------------------------------------------------------------

def test_nothing_of_the_graders_environment_reaches_a_submission(tmp_path, monkeypatch):
    token = secrets.token_hex(16)
    monkeypatch.setenv("CI_DEPLOY_TOKEN", token)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", f"real-{token}")
    with Grader() as fresh:  # a zygote started while the grader's environment holds the token
        result = fresh.grade(hostile(tmp_path, "read_environment.py"))
    said = everything_said(result)
    assert "CI_DEPLOY_TOKEN" not in said and token not in said
    assert "AWS_SECRET_ACCESS_KEY" in said, "the attack ran and printed its environment"


# -- 3. the broker surface ---------------------------------------------------------------------------

class Listener:
    """A TCP listener on the host's loopback that records every connection it accepts."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.accepted: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                conn, peer = self.sock.accept()
                self.accepted.append(str(peer))
                conn.close()
            except OSError:
                pass

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()


def test_the_kernels_keyrings_hold_nothing_for_a_box_and_keep_nothing_of_it(tmp_path):
    """The grader runs in a session keyring holding a secret (as under systemd or pam_keyinit):
    a box neither reads it nor sees it in /proc/keys, and cannot store a key in its uid's user
    keyring (which would outlive it, for the next box with that uid)."""
    add_key, _request_key, keyctl = isolation.KEY_SYSCALLS[platform.machine()][1]
    folder = appended(tmp_path, payment_handler="read_keyrings.py")
    wrapper = (
        "import ctypes, os, sys\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        f"assert libc.syscall({keyctl}, 1, b'brokerlab-test-session') > 0\n"
        f"assert libc.syscall({add_key}, b'user', b'brokerlab-ci-token', b'CI-SECRET-5e1f', 14, -3) > 0\n"
        f"os.execv(sys.executable, [sys.executable, '-m', 'grader', 'grade', {str(folder)!r}, '--format', 'json'])\n")
    done = subprocess.run([sys.executable, "-c", wrapper], capture_output=True, text=True, timeout=300, cwd=ROOT)
    result = json.loads(done.stdout)
    said = json.dumps(result)
    assert "CI-SECRET-5e1f" not in said and "brokerlab-ci-token" not in said
    assert f"search: {errno.EPERM}" in said and f"add_key: errno {errno.EPERM}" in said  # the attack ran
    assert result["exercises"]["producer"]["score"] == result["exercises"]["producer"]["max_score"]


def test_only_the_exercises_sqs_actions_are_served(grader, tmp_path):
    listener = Listener()
    cwd_before = set(os.listdir("."))
    try:
        result = grader.grade(hostile(tmp_path, "other_services.py", PORT=str(listener.port)))
    finally:
        listener.close()
    assert listener.accepted == [], "a connection reached the host's loopback"
    assert set(os.listdir(".")) == cwd_before, "moto's recorder wrote in the grader's folder"
    tried = json.loads(result.exercises["producer"].tests[0].feedback.split("raised RuntimeError: ", 1)[1]
                       .split("] ", 1)[0] + "]")
    assert tried and all(outcome == "refused" for _label, outcome, _text in tried), tried
    no_grader_errors(result)


def test_what_a_killed_copy_prints_while_it_is_killed_never_reaches_its_feedback(grader, tmp_path):
    """The output kept is what the copy printed before the grader decided to end it, so the same
    submission gets the same feedback on a busy machine as on an idle one."""
    folder = appended(tmp_path, sqs_consumer="last_words.py")
    results = [grader.grade(folder).to_json_dict()["exercises"]["consumer"] for _ in range(3)]
    for result in results:
        said = json.dumps(result)
        assert "polling" in said and "last words" not in said
    assert results[0] == results[1] == results[2]


def test_a_request_rewritten_on_its_way_out_is_refused_never_read_two_ways(grader, tmp_path):
    """Headers that the grader's checks and moto would read differently (two spellings of one
    name, "_" for "-", a look-alike letter, user info) are refused; a gzip body is never unpacked;
    a message holding "&Action=" is sent as the message it is, as SQS would."""
    result = grader.grade(hostile(tmp_path, "smuggled_requests.py"))
    feedback = result.exercises["producer"].tests[0].feedback
    tried = {label: (outcome, text) for label, outcome, text in
             json.JSONDecoder().raw_decode(feedback.split("raised RuntimeError: ", 1)[1])[0]}
    assert tried.pop("action in the body")[0] == "answered"
    assert tried.pop("what reached the queue") == ("answered", ["x&Action=ListQueues&y"])
    assert len(tried) == 6 and all(outcome == "refused" for outcome, _text in tried.values()), tried
    assert all("Refused by the grader" in text for _outcome, text in tried.values()), tried
    no_grader_errors(result)


def test_moto_reads_a_request_whose_headers_the_grader_checked():
    """The same refusals at the broker itself, where a gzip bomb behind an odd spelling of
    Content-Encoding would have been unpacked in the grading process (500 MB from 512 KiB)."""
    import gzip

    from grader.harness.broker import Broker, keep_mock
    from grader.harness.clock import VirtualClock
    from grader.harness.seeded import Course

    course = Course.from_seed(7)
    keep_mock()
    signed = {"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "AmazonSQS.ListQueues",
              "Authorization": f"AWS4-HMAC-SHA256 Credential={course.key}/20240101/{course.region}/sqs/"
                               "aws4_request, SignedHeaders=host;x-amz-date, Signature=" + "0" * 64}
    packed = gzip.compress(b"{}")
    with VirtualClock() as clock, Broker(clock, course) as broker:
        assert broker.aws("POST", course.endpoint + "/", signed, b"{}")[0] == 200
        for extra, body in [({"content-type": "application/x-amz-json-1.0"}, b"{}"),
                            ({"Content_Encoding": "gzip"}, packed), ({"Content-Encod\u0131ng": "gzip"}, packed),
                            ({"X_Amz_Target": "AmazonSQS.SendMessage"}, b"{}"), ({"": "x"}, b"{}")]:
            status, _headers, answer = broker.aws("POST", course.endpoint + "/", {**signed, **extra}, body)
            assert status == 400 and b"Refused by the grader" in answer, (extra, answer)
        status, _headers, answer = broker.aws("POST", course.endpoint + "/", {**signed, "Content-Encoding": "gzip"},
                                              packed)
        assert status == 400 and b"Refused by the grader" not in answer  # the body stays packed: not JSON
        at = course.endpoint.replace("://", "://mallory@", 1) + "/"
        assert b"Refused by the grader" in broker.aws("POST", at, signed, b"{}")[2]
        assert [r.action for r in broker.requests] == ["ListQueues"]


def test_a_dressed_up_short_poll_earns_no_long_polling_points(grader, tmp_path):
    result = grader.grade(hostile(tmp_path, "spoofed_long_poll.py", "sqs_consumer.py"))
    tests = {t.name: t for t in result.exercises["consumer"].tests}
    assert not tests["long_polling_and_visibility"].passed
    assert not tests["never_asks_more_than_needed"].passed
    no_grader_errors(result)


@pytest.mark.parametrize("name, file", [("fifo_spin.py", "sqs_consumer.py"), ("view_spin.py", "payment_handler.py"),
                                        ("view_memory.py", "payment_handler.py"), ("copy_disk.py", "payment_handler.py")])
def test_what_the_grader_does_for_a_submission_is_bounded(tmp_path, name, file):
    """Work the grading process itself does on a submission's behalf (moto's receive loop, its
    own query of the database the student left, its copies of that database) is bounded in time,
    memory and disk; it runs outside every box, so the box's limits do not cover it."""
    import resource

    import tempfile

    folder = hostile(tmp_path, name, file)
    before = set(Path(tempfile.gettempdir()).glob("brokerlab-scratch-*"))  # a killed grader's, of a pid reused now
    start = time.monotonic()
    grade = subprocess.Popen([sys.executable, "-m", "grader", "grade", str(folder), "--format", "json"],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    stdout, _ = grade.communicate(timeout=300)
    assert time.monotonic() - start < 200, "the grader spun on the submission's behalf"
    result = json.loads(stdout)
    assert result["exercises"]["producer"]["score"] == result["exercises"]["producer"]["max_score"]
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    assert peak_kb < 1_000_000, f"the grading process grew to {peak_kb} kB"
    assert set(Path(tempfile.gettempdir()).glob(f"brokerlab-scratch-{grade.pid}-*")) - before == set(), \
        "what the grader copied of the student's files reached the host's disk, or stayed"


# -- 4. resources, per box ----------------------------------------------------------------------------

def test_one_students_hogging_leaves_classmates_results_as_they_were(tmp_path):
    """A class of three graded two at a time: the hog beside two honest students."""
    from grader.bulk.pool import Pool
    from grader.bulk.sources import Student

    honest = tmp_path / "honest"
    honest.mkdir()
    for name in ("sqs_producer.py", "sqs_consumer.py", "payment_handler.py"):
        shutil.copy(SOLUTIONS / name, honest / name)
    hog = hostile(tmp_path, "hog_resources.py")
    students = [Student("ada", honest), Student("mallory", hog), Student("zoe", honest)]
    outcomes = {}
    with Pool(jobs=2) as pool:
        pool.run(students, lambda outcome: outcomes.__setitem__(outcome.student.id, outcome))
    for sid in ("ada", "zoe"):
        result = outcomes[sid].result
        sqs = [e for k, e in result.exercises.items() if k in ("producer", "consumer", "payment")]
        assert result.status == "ok" and all(e.score == e.max_score for e in sqs), (sid, result.score)
    output = outcomes["mallory"].result.exercises["producer"].tests[0].output or ""
    assert "children=" in output, "the attack ran and said how many processes it started"
    children = int(output.split("children=", 1)[1].split()[0])
    assert children < 48, "the box's process cap held for the box as a whole"


def test_a_student_who_fills_its_scratch_space_fails_its_own_tests_not_the_grader(grader, tmp_path):
    result = grader.grade(hostile(tmp_path, "fill_inodes.py"))
    no_grader_errors(result)
    assert result.exercises["producer"].score == 0
    assert result.exercises["consumer"].score == result.exercises["consumer"].max_score
    assert result.exercises["payment"].score == result.exercises["payment"].max_score


# -- 5. lifetime -------------------------------------------------------------------------------------

def processes_named(name: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if Path(f"/proc/{entry}/comm").read_text().strip() == name:
                    found.append(int(entry))
            except OSError:
                pass
    return found


def wait_for(condition, limit: float = 60.0) -> bool:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


@pytest.mark.parametrize("how, group", [("SIGKILL", False), ("SIGINT", False), ("SIGINT", True), ("SIGKILL", True)])
def test_nothing_outlives_a_grader_that_is_killed_or_interrupted(tmp_path, how, group):
    """The grader alone, or its whole process group as a terminal's Ctrl-C does (the zygote and
    every box's keeper with it)."""
    name = f"esc{secrets.token_hex(5)}"
    folder = hostile(tmp_path, "linger.py", NAME=name)
    (folder / "sqs_consumer.py").write_text("while True:\n    pass\n")  # keeps the grader busy
    grade = subprocess.Popen([sys.executable, "-m", "grader", "grade", str(folder)], start_new_session=True,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert wait_for(lambda: processes_named(name)), "the attack's daemon never started"
        if group:
            os.killpg(grade.pid, getattr(signal, how))
        else:
            grade.send_signal(getattr(signal, how))
        grade.wait(timeout=60)
        if group:  # what a Ctrl-C left running of the grader's own (the zygote) goes too
            try:
                os.killpg(grade.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        assert wait_for(lambda: not processes_named(name), 30), f"a daemon outlived the grader ({how})"
    finally:
        grade.kill()
        grade.wait()
        for pid in processes_named(name):
            os.kill(pid, signal.SIGKILL)


def test_what_a_killed_grader_left_in_the_temporary_folder_goes_with_the_next_grader(tmp_path):
    """A grader killed outright cannot remove its scratch root; the next grader does: only
    folders of its own user whose process is gone, never through a link, never a live one's."""
    gone = subprocess.Popen(["true"])
    gone.wait()  # a pid that no process holds now
    temp = tmp_path / "tmp"
    stale = temp / f"brokerlab-scratch-{gone.pid}-left"
    (stale / "producer" / "t1").mkdir(parents=True)
    (stale / "producer" / "t1" / "payments.db").write_bytes(b"x" * 1000)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "keep").write_text("not the grader's")
    link = temp / f"brokerlab-scratch-{gone.pid}-link"
    link.symlink_to(elsewhere, target_is_directory=True)
    live = temp / f"brokerlab-scratch-{os.getpid()}-running"
    live.mkdir()
    student = tmp_path / "student"
    student.mkdir()
    shutil.copy(SOLUTIONS / "sqs_producer.py", student)
    done = subprocess.run([sys.executable, "-m", "grader", "grade", str(student), "--format", "json"],
                          capture_output=True, text=True, timeout=300, env={**os.environ, "TMPDIR": str(temp)})
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout)["exercises"]["producer"]["score"] == 25
    assert not stale.exists(), "the killed grader's scratch root stayed"
    assert link.is_symlink() and (elsewhere / "keep").read_text() == "not the grader's"
    assert live.is_dir(), "a running grader's scratch root was removed"
    assert sorted(p.name for p in temp.iterdir()) == sorted([link.name, live.name])


@root_only
def test_box_cgroups_a_keeper_could_not_wait_for_go_with_the_next_grader(tmp_path):
    """A box whose processes took longer to end than its keeper waited leaves empty cgroups; the
    next grader removes them, and never those of a box whose keeper still runs."""
    from grader.sandbox.isolation import CGROUP_PARENT, CGROUP_ROOT, cgroup_controllers

    gone = subprocess.Popen(["true"])
    gone.wait()
    made = []
    for controller in cgroup_controllers():
        for pid in (gone.pid, os.getpid()):
            folder = CGROUP_ROOT / controller / CGROUP_PARENT / f"box-{pid}"
            folder.mkdir(parents=True, exist_ok=True)
            made.append(folder)
    try:
        student = tmp_path / "student"
        student.mkdir()
        shutil.copy(SOLUTIONS / "sqs_producer.py", student)
        done = subprocess.run([sys.executable, "-m", "grader", "grade", str(student), "--format", "json"],
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
        assert made and all(f.exists() == f.name.endswith(f"-{os.getpid()}") for f in made), \
            [(f, f.exists()) for f in made]
    finally:
        for folder in made:
            if folder.exists():
                folder.rmdir()


def test_a_box_dies_with_its_keeper(grader, tmp_path):
    """Killing the trusted keeper (as a crash or an OOM kill would) ends the box by the kernel's
    parent-death signal, which init re-arms after its change of uid."""
    from grader.harness.clock import VirtualClock
    from grader.sandbox.client import Limits, Sandbox
    from grader.sandbox.scratch import ScratchSpace
    from grader.sandbox.selfcheck import ProbeHost

    name = f"esc{secrets.token_hex(5)}"
    source = (BOUNDARY / "linger.py").read_text().replace("__NAME__", name).encode()
    space = ScratchSpace(True)
    sandbox = Sandbox(grader.zygote, "sqs_producer", source, space, "producer", Limits(), grader.sandbox)
    try:
        with VirtualClock() as clock:
            sandbox.start(ProbeHost(clock))
        assert wait_for(lambda: processes_named(name)), "the attack's daemon never started"
        keeper = sandbox.uid - UID_BASE
        os.kill(keeper, signal.SIGKILL)
        assert wait_for(lambda: not processes_named(name), 30), "the box outlived its keeper"
    finally:
        sandbox.close()
        space.close()


def test_nothing_outlives_a_grade_all_timeout(tmp_path):
    from grader.bulk.pool import Pool
    from grader.bulk.sources import Student

    name = f"esc{secrets.token_hex(5)}"
    folder = hostile(tmp_path, "linger.py", NAME=name)
    (folder / "sqs_consumer.py").write_text("import time\n\ndef consume_messages(*a, **k):\n    while True:\n"
                                            "        pass\n")
    outcomes = []
    with Pool(jobs=1, timeout=8) as pool:
        pool.run([Student("mallory", folder)], outcomes.append)
    assert outcomes and outcomes[0].result.status == "timed out"
    assert wait_for(lambda: not processes_named(name), 30), "a daemon outlived its timed-out grading"


def test_nothing_outlives_orderly_grading_even_with_its_exit_replaced(grader, tmp_path):
    name = f"esc{secrets.token_hex(5)}"
    result = grader.grade(hostile(tmp_path, "linger.py", NAME=name))
    assert result.exercises["payment"].score == result.exercises["payment"].max_score
    assert wait_for(lambda: not processes_named(name), 30)


# -- 6. bounded on the grader's side --------------------------------------------------------------

def test_malformed_frames_and_huge_values_are_the_students_crash_and_stay_small(grader, tmp_path):
    result = grader.grade(hostile(tmp_path, "flood_channel.py"))
    producer = result.exercises["producer"]
    assert producer.score == 0
    assert all(t.status is not Status.GRADER_ERROR for t in producer.tests), \
        [(t.name, t.feedback) for t in producer.tests if t.status is Status.GRADER_ERROR]
    assert len(everything_said(result)) < 400_000
    assert result.exercises["consumer"].score == result.exercises["consumer"].max_score


def test_a_send_to_a_reader_that_stopped_reading_times_out():
    ours, theirs = socket.socketpair()
    try:
        start = time.monotonic()
        with pytest.raises(protocol.ChannelTimeout):
            protocol.send(ours, {"op": "reply", "value": "x" * (4 << 20)}, timeout=0.5)
        assert time.monotonic() - start < 5
    finally:
        ours.close()
        theirs.close()


def test_a_frame_nested_too_deep_is_a_protocol_error_not_a_crash():
    ours, theirs = socket.socketpair()
    try:
        deep = b"[" * 100000 + b"]" * 100000
        theirs.sendall(len(deep).to_bytes(4, "big") + deep)
        with pytest.raises(protocol.ProtocolError):
            protocol.recv(ours, timeout=5)
    finally:
        ours.close()
        theirs.close()


# -- 10. the sandbox proves itself ---------------------------------------------------------------------

def test_grading_refuses_with_one_line_where_a_protection_is_missing(tmp_path):
    """A host whose cgroups are hidden (as in some containers): full mode refuses, naming the
    step; weak mode, asked for, grades the reference in full and says it was weak."""
    hide = "mount -t tmpfs none /sys/fs/cgroup && exec \"$@\""
    base = ["unshare", "-m", "--propagation", "private", "sh", "-c", hide, "sh", sys.executable, "-m", "grader"]
    refused = subprocess.run([*base, "grade", str(SOLUTIONS)], capture_output=True, text=True, timeout=120)
    assert refused.returncode != 0
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1 and "cgroups" in lines[0] and "--sandbox weak" in lines[0], refused.stderr
    doctor = subprocess.run([*base, "doctor"], capture_output=True, text=True, timeout=120)
    assert doctor.returncode == 1 and "[FAILED] cgroups" in doctor.stdout
    weak = subprocess.run([*base, "grade", str(SOLUTIONS), "--format", "json", "--sandbox", "weak"],
                          capture_output=True, text=True, timeout=300)
    data = json.loads(weak.stdout)
    assert data["sandbox"] == "weak"
    code = {k: v for k, v in data["exercises"].items() if k in ("producer", "consumer", "payment")}
    assert sum(v["score"] for v in code.values()) == sum(v["max_score"] for v in code.values()) == 100


def test_doctor_reports_every_protection_active_here():
    done = subprocess.run([sys.executable, "-m", "grader", "doctor"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    for step in ("cgroups", "box", "uid", "network", "pid namespace", "environment", "keyrings"):
        assert f"[ok] {step}" in done.stdout


# -- 9. verdicts ------------------------------------------------------------------------------------

def test_a_home_made_class_named_valueerror_is_not_a_valueerror(grader, tmp_path):
    result = grader.grade(hostile(tmp_path, "fake_value_error.py", "sqs_consumer.py"))
    tests = {t.name: t for t in result.exercises["consumer"].tests}
    assert not tests["process_task_rejects_malformed"].passed
    assert "sqs_consumer.ValueError" in tests["process_task_rejects_malformed"].feedback


def test_a_value_that_breaks_a_suites_own_parsing_is_the_students_mistake(grader, tmp_path):
    result = grader.grade(hostile(tmp_path, "impossible_date.py"))
    no_grader_errors(result)
    tests = {t.name: t for t in result.exercises["producer"].tests}
    assert not tests["make_task_utc_z_timestamp"].passed


def test_values_no_suite_expects_are_the_students_mistake_never_a_grader_error(grader, tmp_path):
    """A count that is a word, a body nested past Python's recursion limit, a reply on the channel
    nested 900 deep: each fails the test it attacks, and nothing becomes a grader error (which
    would excuse the student and be regraded on every run)."""
    result = grader.grade(appended(tmp_path, sqs_consumer="wrong_type_counts.py", sqs_producer="deep_values.py"))
    no_grader_errors(result)
    passed = {k: {t.name for t in e.tests if t.passed} for k, e in result.exercises.items()}
    assert "handler_error_never_escapes" not in passed["consumer"]
    assert "process_task_valid" in passed["consumer"]  # the honest rest still counts
    assert not {"send_task_json_body", "main_course_step1", "queue_status_ints"} & passed["producer"]
    assert "create_queue_sets_attributes" in passed["producer"]


def test_text_no_file_can_hold_and_values_past_pythons_limits_fail_only_their_tests(grader, tmp_path):
    """An unpaired surrogate in an exception message, a returned ``{"$bytes": "é"}``, a printed
    number of 4400 digits: each fails its test, and every output can still be written."""
    result = grader.grade(appended(tmp_path, sqs_producer="odd_text.py"))
    no_grader_errors(result)
    json.dumps(result.to_json_dict(), ensure_ascii=False).encode("utf-8")  # never raises
    tests = {t.name: t for t in result.exercises["producer"].tests}
    assert not tests["make_task_shape"].passed and "lone surrogate \ufffd here" in tests["make_task_shape"].feedback
    assert not tests["queue_status_ints"].passed
    assert tests["main_prints_status_after_sending"].passed  # the long number is not a number of the status
    done = subprocess.run([sys.executable, "-m", "grader", "grade", str(tmp_path / "mallory"), "--format", "text"],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0 and "internal error" not in done.stderr, done.stderr


def test_what_moto_would_take_but_sqs_would_not_fails_the_students_own_request(grader, tmp_path):
    """Attributes SQS does not have, or a queue made FIFO after the fact, are refused to the
    student's code; a body that is not a message's body, handed to the grader's handler, is
    refused to it too: no grader error anywhere, and the honest work still counts."""
    result = grader.grade(appended(tmp_path, sqs_producer="queue_attributes.py",
                                   sqs_consumer="odd_handler_bodies.py"))
    passed = {k: {t.name for t in e.tests if t.passed} for k, e in result.exercises.items()}
    no_grader_errors(result)
    assert {"create_queue_sets_attributes", "create_queue_defaults"} <= passed["producer"]
    assert "consume_processes_and_deletes" in passed["consumer"]


def test_the_graders_own_send_that_a_queue_refuses_is_the_students_failure():
    from grader.harness.broker import Broker, start_mock
    from grader.harness.clock import VirtualClock
    from grader.harness.verdict import PreconditionBroken

    mock = start_mock()
    try:
        with Broker(VirtualClock()) as broker:
            url = broker.create_queue("small", MaximumMessageSize=1024)
            with pytest.raises(PreconditionBroken, match="SendMessage"):
                broker.send(url, "x" * 2000)
    finally:
        if mock is not None:
            mock.stop()


def test_a_printed_status_is_judged_fairly_and_a_list_of_guesses_is_not_one(grader, tmp_path):
    """A main() that prints every attribute of the queue it read after sending passes; one that
    does the same work and then prints the numbers 0 to 39 does not."""
    every = ("\n\ndef main():\n"
             "    sqs = boto3.client('sqs', region_name=os.environ.get('AWS_DEFAULT_REGION') or 'us-east-1')\n"
             "    url = create_queue(sqs, 'task-queue', visibility_timeout=30, retention_period=86400)\n"
             "    for task_type, task_data in COURSE_TASKS:\n"
             "        print('sent', send_task(sqs, url, task_type, task_data))\n"
             "    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=['All'])['Attributes']\n"
             "    for name, value in sorted(attributes.items()):\n"
             "        print(f'{name}: {value}')\n")
    guesses = every + "    print('status:', ' '.join(str(n) for n in range(40)))\n"
    verdicts = {}
    for label, main in (("every", every), ("guesses", guesses)):
        folder = tmp_path / label
        folder.mkdir()
        (folder / "sqs_producer.py").write_text((SOLUTIONS / "sqs_producer.py").read_text() + main)
        result = grader.grade(folder)
        verdicts[label] = {t.name: t.passed for t in result.exercises["producer"].tests}
    assert verdicts["every"]["main_prints_status_after_sending"] is True
    assert verdicts["guesses"]["main_prints_status_after_sending"] is False


def test_code_that_does_no_work_earns_nothing(grader, tmp_path):
    """A producer that only returns guessable values, a process_task that rejects everything, a
    consumer that returns a constant without calling SQS, a handler that rejects everything."""
    folder = tmp_path / "lazy"
    folder.mkdir()
    for name, file in (("lazy_producer.py", "sqs_producer.py"), ("lazy_consumer.py", "sqs_consumer.py"),
                       ("lazy_payment.py", "payment_handler.py")):
        shutil.copy(BOUNDARY / name, folder / file)
    result = grader.grade(folder)
    earned = {k: [t.name for t in e.tests if t.passed] for k, e in result.exercises.items()
              if k in ("producer", "consumer", "payment")}
    assert earned == {"producer": [], "consumer": [], "payment": []}
