"""The lab on a real, shared broker: moto served over HTTP on a free loopback port, real processes.

Every test bounds its waits (short visibility timeouts, one-second long polls, time limits) and
checks that no process it caused is left behind.
"""
from __future__ import annotations

import multiprocessing
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import boto3
import pytest

from grader.cli import main as cli_main
from grader.errors import UserError
from grader.lab import QUEUE_PREFIX, client_env
from grader.lab.command import cleanup
from grader.lab.server import LocalBroker, answers
from grader.lab.session import LabOutcome, LabSession, LabSettings
from grader.lab.tally import Plan, Tally
from grader.lab.worker import CRASH_FIRST_DELIVERY, expected_crashes
from grader.paths import ROOT, SOLUTIONS

FIXTURES = Path(__file__).parent / "lab_fixtures"
PYTHON = sys.executable


class RecordingView:
    """The session's view, as a list of lines."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def line(self, text: str) -> None:
        self.lines.append(text)

    def refresh(self, tally: Tally) -> None:
        pass


def sqs_for(url: str):
    return boto3.client("sqs", endpoint_url=url, region_name="us-east-1",
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def port_closed(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) != 0


def assert_no_process_left(outcome: LabOutcome) -> None:
    assert outcome.pids and all(code is not None for code in outcome.exitcodes), outcome.exitcodes
    for pid in outcome.pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert multiprocessing.active_children() == []


@pytest.fixture
def broker():
    with LocalBroker("127.0.0.1", 0) as served:
        yield served
    assert port_closed(served.port)


def run_lab(endpoint: str, **overrides) -> LabOutcome:
    settings = dict(path=SOLUTIONS, consumers=3, tasks=12, crash_rate=0.0, seed=7, visibility_timeout=2,
                    work_seconds=0.0, send_interval=0.0, wait_time_seconds=1, timeout=60, endpoint=endpoint)
    settings.update(overrides)
    return LabSession(LabSettings(**settings)).run(RecordingView())


# --- the server --------------------------------------------------------------------------------------
def test_server_serves_sqs_on_a_free_loopback_port_and_closes_it_on_stop():
    served = LocalBroker("127.0.0.1", 0).start()
    try:
        assert served.port != 0 and served.url == f"http://127.0.0.1:{served.port}"
        sqs = sqs_for(served.url)
        url = sqs.create_queue(QueueName=f"{QUEUE_PREFIX}server-test")["QueueUrl"]
        sqs.send_message(QueueUrl=url, MessageBody="hello")
        assert sqs.receive_message(QueueUrl=url)["Messages"][0]["Body"] == "hello"
    finally:
        served.stop()
    assert port_closed(served.port)
    assert not answers(served.url, timeout=1)


def test_a_port_in_use_is_a_user_error(broker):
    with pytest.raises(UserError, match=f"port {broker.port} on 127.0.0.1 is already in use"):
        LocalBroker("127.0.0.1", broker.port).start()


def _read_lines(stream, into: queue.Queue) -> None:
    for line in stream:
        into.put(line)
    into.put(None)


def test_serve_prints_the_exports_and_unchanged_main_uses_it_then_ctrl_c_stops_it(tmp_path):
    serve = subprocess.Popen([PYTHON, "-m", "grader", "serve", "--port", "0"], cwd=ROOT, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=_read_lines, args=(serve.stdout, lines), daemon=True).start()
    try:
        printed: list[str] = []
        deadline = time.monotonic() + 30
        while not any("Ctrl-C" in line for line in printed):
            assert time.monotonic() < deadline, f"serve printed only {printed}"
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            assert line is not None, f"serve ended early: {printed} {serve.stderr.read()}"
            printed.append(line)
        exports = dict(line.strip()[len("export "):].split("=", 1) for line in printed
                       if line.strip().startswith("export "))
        assert exports["AWS_ACCESS_KEY_ID"] == "testing" and exports["AWS_SECRET_ACCESS_KEY"] == "testing"
        assert exports["AWS_DEFAULT_REGION"] == "us-east-1"
        endpoint = exports["AWS_ENDPOINT_URL"]
        assert endpoint.startswith("http://127.0.0.1:")

        # The course's step 1 as a student runs it: the file as a script, only the pasted lines set.
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")} | exports
        run = subprocess.run([PYTHON, str(SOLUTIONS / "sqs_producer.py")], env=env, cwd=tmp_path,
                             capture_output=True, text=True, timeout=60)
        assert run.returncode == 0, run.stderr
        sqs = sqs_for(endpoint)
        queue_url = sqs.get_queue_url(QueueName="task-queue")["QueueUrl"]
        counts = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages"])
        assert counts["Attributes"]["ApproximateNumberOfMessages"] == "5"

        serve.send_signal(signal.SIGINT)
        assert serve.wait(timeout=15) == 0
    finally:
        if serve.poll() is None:
            serve.kill()
            serve.wait(5)
    rest = []
    while (line := lines.get(timeout=5)) is not None:
        rest.append(line)
    stderr = serve.stderr.read()
    assert "broker stopped" in "".join(rest)
    assert "Traceback" not in stderr and "POST /" not in stderr + "".join(printed + rest)  # quiet log
    assert port_closed(int(endpoint.rsplit(":", 1)[1]))


def test_serve_on_a_busy_port_says_so_in_one_line(broker):
    run = subprocess.run([PYTHON, "-m", "grader", "serve", "--port", str(broker.port)], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 2
    assert run.stderr.strip().splitlines() == [
        f"brokerlab serve: error: port {broker.port} on 127.0.0.1 is already in use (another `brokerlab "
        "serve`?); choose another with --port, or --port 0 for any free one"]


# --- consumer processes against the served broker ----------------------------------------------------
def test_without_crashes_every_message_is_handled_and_acknowledged_exactly_once(broker):
    outcome = run_lab(broker.url, consumers=3, tasks=12, crash_rate=0.0)
    tally = outcome.tally
    verdict = tally.verdict()
    assert verdict.ok, verdict.problems

    assert sorted(t.number for t in tally.tasks.values() if t.message_id) == list(range(12))
    message_ids = {t.message_id for t in tally.tasks.values()}
    assert len(message_ids) == 12
    for task in tally.tasks.values():
        assert [d.receive_count for d in task.deliveries] == [1], task
        assert (task.handled, task.failed, task.deletes) == (1, 0, 1), task
    consumers = tally.consumers.values()
    assert sum(c.deleted for c in consumers) == 12 and sum(c.received for c in consumers) == 12
    for c in consumers:  # what each consume_messages() returned agrees with what the broker saw
        assert c.state == "stopped" and (c.reported_processed, c.reported_failed) == (c.deleted, 0)
    assert (tally.available, tally.in_flight) == (0, 0)
    assert tally.redeliveries == []

    # The broker's own view, read independently: the queue is empty, nothing in flight.
    attrs = sqs_for(broker.url).get_queue_attributes(QueueUrl=tally.queue_url, AttributeNames=["All"])["Attributes"]
    assert (attrs["ApproximateNumberOfMessages"], attrs["ApproximateNumberOfMessagesNotVisible"]) == ("0", "0")
    assert_no_process_left(outcome)


def test_with_crashes_every_message_is_handled_and_acknowledged_at_least_once(broker):
    plan = Plan(tasks=10, consumers=3, visibility_timeout=1, crash_rate=0.3, seed=3)
    assert plan.expected_injected() >= 3  # the seed does crash some deliveries

    outcome = run_lab(broker.url, consumers=3, tasks=10, crash_rate=0.3, seed=3, visibility_timeout=1)
    tally = outcome.tally
    verdict = tally.verdict()
    assert verdict.ok, verdict.problems

    for task in tally.tasks.values():
        crashes = expected_crashes(3, task.number, 0.3)
        # Each crash left the message unacknowledged; the broker handed it out again, counting up.
        assert [d.receive_count for d in task.deliveries] == list(range(1, crashes + 2)), task
        assert [d.outcome for d in task.deliveries] == ["crashed"] * crashes + ["handled"], task
        assert task.handled >= 1 and task.deletes >= 1
        assert task.injected == crashes
    consumers = tally.consumers.values()
    received = sum(c.received for c in consumers)
    failed = sum(c.failed for c in consumers)
    handled = sum(c.handled for c in consumers)
    assert failed == plan.expected_injected()
    assert received == handled + failed
    assert sum(c.deleted for c in consumers) == handled == 10
    assert len(tally.redeliveries) == failed
    assert all(r.receive_count >= 2 for r in tally.redeliveries)
    for c in consumers:
        assert (c.reported_processed, c.reported_failed) == (c.deleted, c.failed)
    assert (tally.available, tally.in_flight) == (0, 0)
    assert_no_process_left(outcome)


def test_step5_the_crashed_message_stays_invisible_then_comes_back_with_receive_count_2(broker):
    outcome = run_lab(broker.url, step=5, consumers=1, tasks=1, visibility_timeout=2)
    tally = outcome.tally
    assert tally.plan.crash_mode == CRASH_FIRST_DELIVERY
    verdict = tally.verdict()
    assert verdict.ok, verdict.problems
    first, again = tally.tasks[0].deliveries
    assert (first.receive_count, first.outcome, first.deleted) == (1, "crashed", False)
    assert (again.receive_count, again.outcome, again.deleted) == (2, "handled", True)
    assert again.at - first.at >= 2 - 0.5  # hidden for the visibility timeout, not redelivered at once
    assert tally.seen_invisible  # the broker showed it in flight, none available, meanwhile
    assert [r.receive_count for r in tally.redeliveries] == [2]
    assert_no_process_left(outcome)


def test_the_verdict_fails_when_a_consumer_acks_before_handling(broker):
    outcome = run_lab(broker.url, path=FIXTURES / "ack_first", consumers=2, tasks=8, crash_rate=0.3, seed=3,
                      visibility_timeout=1, timeout=40)
    verdict = outcome.tally.verdict()
    lost = [t.number for t in outcome.tally.tasks.values() if t.handled == 0]
    assert lost  # crashed after the early delete: gone for good
    assert not verdict.ok
    assert any("deleted although no handler finished" in p for p in verdict.problems), verdict.problems
    assert not outcome.tally.timed_out  # an emptied queue ends the run early
    assert outcome.seconds < 30
    assert_no_process_left(outcome)


# --- the command line ----------------------------------------------------------------------------------
def test_lab_command_runs_the_hands_on_in_plain_lines_and_exits_0():
    run = subprocess.run(
        [PYTHON, "-m", "grader", "lab", "--tasks", "6", "--consumers", "2", "--crash-rate", "0",
         "--visibility-timeout", "2", "--work-seconds", "0.1", "--send-interval", "0", "--wait-time", "1",
         "--timeout", "60"], cwd=ROOT, capture_output=True, text=True, timeout=90)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "\x1b[" not in run.stdout  # not a terminal: no live table, no colours
    assert "PASSED: all 6 tasks handled and acknowledged exactly once" in run.stdout
    assert "consumer 2:" in run.stdout and "queue at the end: 0 available, 0 in flight" in run.stdout
    assert run.stderr == ""


def test_a_consumer_that_cannot_be_imported_is_a_one_line_error(tmp_path, capsys):
    shutil.copy(FIXTURES / "ack_first" / "sqs_producer.py", tmp_path)
    (tmp_path / "sqs_consumer.py").write_text("raise RuntimeError('no broker for you')\n")
    code = cli_main(["lab", "--path", str(tmp_path), "--tasks", "2", "--consumers", "1", "--crash-rate", "0",
                     "--visibility-timeout", "2", "--work-seconds", "0", "--send-interval", "0",
                     "--wait-time", "1", "--timeout", "60", "--plain"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.strip().splitlines() == [
        f"brokerlab lab: error: {tmp_path}: sqs_consumer.py cannot be imported: RuntimeError: no broker for you"]
    assert multiprocessing.active_children() == []


@pytest.mark.parametrize("argv, message", [
    (["--path", "/nonexistent/lab"], "/nonexistent/lab: no such folder"),
    (["--crash-rate", "1"], "--crash-rate must be at least 0 and below 1"),
    (["--visibility-timeout", "1", "--work-seconds", "2"], "must be longer than --work-seconds"),
    (["--endpoint", "http://sqs.us-east-1.amazonaws.com"], "must point at this machine"),
    (["--step", "5", "--crash-rate", "0.5"], "--crash-rate does not apply to --step 5"),
    (["--cleanup"], "nothing to clean up"),
])
def test_bad_lab_options_are_one_line_errors(argv, message, capsys, monkeypatch):
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    assert cli_main(["lab", *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err


def test_syntax_errors_are_reported_before_anything_starts(tmp_path, capsys):
    shutil.copy(FIXTURES / "ack_first" / "sqs_producer.py", tmp_path)
    (tmp_path / "sqs_consumer.py").write_text("def consume_messages(:\n")
    assert cli_main(["lab", "--path", str(tmp_path)]) == 2
    assert f"{tmp_path / 'sqs_consumer.py'}: line 1:" in capsys.readouterr().err


def test_cleanup_deletes_the_labs_queues_and_task_queue_only(broker, capsys):
    # moto's state is per process, so queues of this file's earlier tests may be there too.
    sqs = sqs_for(broker.url)
    lab_queues = {f"{QUEUE_PREFIX}tasks-1", f"{QUEUE_PREFIX}step5-2", "task-queue"}
    for name in lab_queues | {"someone-elses"}:
        sqs.create_queue(QueueName=name)
    assert cleanup(broker.url) == 0
    left = {url.rsplit("/", 1)[1] for url in sqs.list_queues().get("QueueUrls", [])}
    assert "someone-elses" in left and not left & lab_queues
    assert not any(name.startswith(QUEUE_PREFIX) for name in left)
    out = capsys.readouterr().out.splitlines()
    assert {f"deleted {name}" for name in lab_queues} <= set(out) and "deleted someone-elses" not in out
    assert cleanup(broker.url) == 0
    assert "nothing to delete" in capsys.readouterr().out


def test_cleanup_uses_aws_endpoint_url_as_serve_prints_it(broker, monkeypatch, capsys):
    sqs_for(broker.url).create_queue(QueueName=f"{QUEUE_PREFIX}tasks-env")
    for name, value in client_env(broker.url).items():
        monkeypatch.setenv(name, value)
    assert cli_main(["lab", "--cleanup"]) == 0
    assert f"deleted {QUEUE_PREFIX}tasks-env" in capsys.readouterr().out


# --- the tally's verdicts on hand-written events -------------------------------------------------------
def _events(*rows: tuple) -> list[dict]:
    at = time.time()
    return [{"kind": kind, "role": role, "index": index, "pid": 1, "at": at + i * 0.01, **fields}
            for i, (role, index, kind, fields) in enumerate(rows)]


def test_the_tally_fails_a_duplicate_delivery_when_nothing_crashed():
    tally = Tally(Plan(tasks=1, consumers=2, visibility_timeout=2))
    for event in _events(
            ("producer", 0, "started", {}), ("producer", 0, "sent", {"task": 0, "message_id": "m0"}),
            ("producer", 0, "exit", {}),
            ("consumer", 1, "received", {"task": 0, "message_id": "m0", "receive_count": 1}),
            ("consumer", 2, "received", {"task": 0, "message_id": "m0", "receive_count": 2}),
            ("consumer", 1, "handled", {"task": 0}), ("consumer", 1, "deleted", {"task": 0}),
            ("consumer", 2, "handled", {"task": 0}), ("consumer", 2, "deleted", {"task": 0})):
        tally.apply(event)
    tally.set_status(0, 0)
    verdict = tally.verdict()
    assert not verdict.ok
    assert any("more than once" in p for p in verdict.problems)


def test_the_tally_fails_counts_that_do_not_add_up():
    tally = Tally(Plan(tasks=1, consumers=1, visibility_timeout=2))
    for event in _events(
            ("producer", 0, "sent", {"task": 0, "message_id": "m0"}), ("producer", 0, "exit", {}),
            ("consumer", 1, "received", {"task": 0, "message_id": "m0", "receive_count": 1}),
            ("consumer", 1, "handled", {"task": 0}), ("consumer", 1, "deleted", {"task": 0}),
            ("consumer", 1, "result", {"result": {"processed": 2, "failed": 0}}), ("consumer", 1, "exit", {})):
        tally.apply(event)
    tally.set_status(0, 0)
    verdict = tally.verdict()
    assert not verdict.ok
    assert verdict.problems == ["consumer 1: consume_messages() reported 2 processed, but 1 messages were deleted"]
