"""Grading one submission: the reference earns everything, the stubs nothing, every exercise is
graded on its own, and the same submission always gets the same result."""
from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from grader.amqp import service
from grader.paths import EXAMPLES, EXERCISES, ROOT, SOLUTIONS
from grader.quiz.loader import load_bank
from grader.render import render
from grader.render.gradescope import to_gradescope
from grader.results import Status

BROKERLAB = [sys.executable, "-m", "grader"]
SQS_MAX = {"producer": 25, "consumer": 40, "payment": 35}
AMQP_MAX = {"amqp_producer": 25, "amqp_consumer": 45, "amqp_routing": 30}
EXPECTED_MAX = SQS_MAX | (AMQP_MAX if service.available() else {})  # the AMQP track needs a RabbitMQ
BANK = load_bank()
QUIZ_MAX = {quiz_id: sum(q.points for q in quiz.questions) for quiz_id, quiz in BANK.items()}
ASSIGNMENT_MAX = sum(SQS_MAX.values()) + sum(AMQP_MAX.values()) + sum(QUIZ_MAX.values())


def grade_json(path: Path, *extra: str) -> dict:
    done = subprocess.run([*BROKERLAB, "grade", str(path), "--format", "json", *extra],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_solutions_earn_full_marks_through_the_cli():
    result = grade_json(SOLUTIONS)
    for exercise, top in EXPECTED_MAX.items():
        got = result["exercises"][exercise]
        failing = [(t["name"], t["feedback"]) for t in got["tests"] if not t["passed"]]
        assert not failing, f"{exercise}: {failing}"
        assert got["score"] == got["max_score"] == top
    assert result["max_score"] == ASSIGNMENT_MAX and result["score"] == sum(EXPECTED_MAX.values())  # no answers.yaml


def test_untouched_stubs_earn_nothing():
    result = grade_json(EXERCISES)
    for exercise in EXPECTED_MAX:
        got = result["exercises"][exercise]
        assert got["score"] == 0 and got["max_score"] == EXPECTED_MAX[exercise]
        assert all(t["feedback"] for t in got["tests"]), "every failed test must say why"
    assert "NotImplementedError" in result["exercises"]["producer"]["tests"][0]["feedback"]


def test_json_follows_the_contract(grader):
    result = grader.grade(SOLUTIONS).to_json_dict()
    assert list(result)[:2] == ["score", "max_score"]
    for exercise in result["exercises"].values():
        assert {"score", "max_score", "tests"} <= set(exercise)
        for test in exercise["tests"]:
            assert {"name", "score", "max_score", "passed", "feedback"} <= set(test)
            assert isinstance(test["passed"], bool)


def test_same_submission_same_result_twice(grader, submission):
    flaky = (SOLUTIONS / "sqs_consumer.py").read_text().replace(
        "def process_task(message_body", "import random as _r\n\ndef process_task(message_body")
    flaky = flaky.replace("    return task\n", "    if _r.random() < 0.3:\n        raise ValueError('flaky')\n    return task\n", 1)
    assert flaky != (SOLUTIONS / "sqs_consumer.py").read_text()
    folder = submission(consumer=flaky, producer="solution", payment="solution")
    first = grader.grade(folder).to_json_dict()
    second = grader.grade(folder).to_json_dict()
    assert first == second
    assert 0 < first["exercises"]["consumer"]["score"] < 40


def test_a_zip_grades_like_its_folder(grader, tmp_path):
    archive = tmp_path / "ada.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in SOLUTIONS.glob("*.py"):
            zf.write(path, f"ada-work/{path.name}")
    zipped = grader.grade(archive)
    assert zipped.score == sum(EXPECTED_MAX.values()) and zipped.status == "ok"


def test_one_maximum_whatever_the_submission_holds(grader, submission, tmp_path):
    """A student cannot change what the assignment is out of by leaving things out: every exercise
    and every quiz of the bank is there, in the contract's order, at 0 when not handed in, and every
    rendering says the same maximum."""
    hostile = (Path(__file__).parent / "adversarial" / "outputs" / "answers_code_keys.yaml").read_text()
    (tmp_path / "nothing").mkdir()
    cases = {
        "code only": SOLUTIONS,
        "one quiz answered": submission(producer="solution", **{"answers.yaml": "checkpoint:\n  q1: C\n"}),
        "nothing": tmp_path / "nothing",
    }
    results = {name: grader.grade(path) for name, path in cases.items()}
    results["answers naming code exercises"] = grader.grade(submission(**{"answers.yaml": hostile}))
    for name, result in results.items():
        assert result.max_score == ASSIGNMENT_MAX, name
        keys = list(result.exercises)
        assert keys[:len(EXPECTED_MAX) + len(BANK)] == [*EXPECTED_MAX, *BANK], name  # extra notes, if any, after
        for quiz_id, quiz in BANK.items():
            exercise = result.exercises[quiz_id]
            assert exercise.kind == "quiz" and exercise.max_score == QUIZ_MAX[quiz_id], (name, quiz_id)
            assert [t.name.split(":")[0] for t in exercise.tests] == [q.id for q in quiz.questions]
        data = json.loads(render(result, "json"))
        assert data["max_score"] == ASSIGNMENT_MAX
        assert {k: v["max_score"] for k, v in data["exercises"].items() if k in EXPECTED_MAX or k in BANK} == \
            {**EXPECTED_MAX, **QUIZ_MAX}
        assert render(result, "text").rstrip().endswith(f"/{ASSIGNMENT_MAX:g}")
        tests = to_gradescope(result)["tests"]
        assert sum(t.get("max_score", t.get("extra_data", {}).get("max_score", 0)) for t in tests) == ASSIGNMENT_MAX
    left_out = results["one quiz answered"].exercises["discussion"]
    assert all(t.score == 0 and t.status is Status.ERROR for t in left_out.tests)
    assert "Not answered" in left_out.feedback and "Not answered" in left_out.tests[0].feedback
    assert "no answers.yaml" in results["code only"].exercises["checkpoint"].feedback
    assert results["one quiz answered"].exercises["checkpoint"].tests[0].passed


@pytest.mark.parametrize("content, reason", [
    (None, "is missing"),
    ("", "is empty"),
    ("   \n\n", "is empty"),
    (b"\xff\xfe\x00b\x00a\x00d", "not UTF-8"),
    ("def create_queue(:\n", "syntax error, line 1"),
    ("raise RuntimeError('boom at import')\n", "raised RuntimeError: boom at import"),
    ("import sys\nsys.exit(3)\n", "called exit()"),
    ("import os\nos._exit(0)\n", "exited while being imported"),
])
def test_a_broken_file_scores_zero_for_its_own_exercise_only(grader, submission, content, reason):
    sources = {"consumer": "solution", "payment": "solution"}
    if content is not None:
        sources["producer"] = content
    result = grader.grade(submission(**sources))
    producer = result.exercises["producer"]
    assert producer.score == 0 and producer.max_score == 25
    assert reason in producer.feedback
    assert len(producer.feedback.splitlines()) == 1
    assert all(t.status is Status.ERROR for t in producer.tests)
    assert result.exercises["consumer"].score == 40 and result.exercises["payment"].score == 35


def test_infinite_loop_at_import_costs_only_its_exercise(grader, submission):
    result = grader.grade(submission(producer="while True:\n    pass\n", consumer="solution"))
    assert "did not finish" in result.exercises["producer"].feedback
    assert result.exercises["consumer"].score == 40


def test_the_courses_endless_consumer_loses_only_the_stopping_tests(grader, submission):
    source = (SOLUTIONS / "sqs_consumer.py").read_text()
    endless = source.replace("def consume_messages(", "def _unused_consume(") + '''

def consume_messages(sqs, queue_url, handler=process_task, max_messages=10, wait_time_seconds=5,
                     visibility_timeout=30, max_empty_polls=3):
    processed = failed = 0
    while processed < max_messages:
        response = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=1,
                                       WaitTimeSeconds=wait_time_seconds, VisibilityTimeout=visibility_timeout)
        messages = response.get("Messages", [])
        if not messages:
            continue
        for message in messages:
            try:
                handler(message["Body"])
            except Exception:
                failed += 1
                continue
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
            processed += 1
    return {"processed": processed, "failed": failed}
'''
    result = grader.grade(submission(consumer=endless))
    tests = {t.name: t for t in result.exercises["consumer"].tests}
    assert tests["stops_after_empty_polls"].status is Status.TIMEOUT
    assert "never finished" in tests["stops_after_empty_polls"].feedback
    assert tests["consume_processes_and_deletes"].passed and tests["ack_after_handler_returns"].passed


def test_cli_refuses_what_it_cannot_grade(tmp_path):
    bad = tmp_path / "notes.txt"
    bad.write_text("hello")
    for path in (tmp_path / "nope", bad):
        done = subprocess.run([*BROKERLAB, "grade", str(path)], capture_output=True, text=True, cwd=ROOT)
        assert done.returncode != 0
        assert len(done.stderr.strip().splitlines()) == 1 and str(path.name) in done.stderr
        assert "Traceback" not in done.stderr


def test_gradescope_format(grader):
    out = to_gradescope(grader.grade(SOLUTIONS))
    assert out["score"] == sum(EXPECTED_MAX.values())
    assert all({"name", "score", "max_score", "status", "output", "visibility"} <= set(t) for t in out["tests"])
    code = [t for t in out["tests"] if t["name"].split(":")[0] in EXPECTED_MAX]
    assert {t["status"] for t in code} == {"passed"} and len(code) < len(out["tests"])  # the quizzes, at 0


def test_a_bug_in_the_grader_is_reported_for_its_exercise_not_raised(tmp_path):
    """A suite that cannot even be imported, and a test that hits an internal error, are grader
    errors of their exercise; the other exercises are graded as usual."""
    from grader.paths import SUITES
    from grader.runner import run_suites
    from grader.sandbox.client import Zygote
    from grader.submission import open_submission

    suites = tmp_path / "suites"
    suites.mkdir()
    (suites / "test_producer.py").write_text("raise ImportError('a broken suite')\n")
    (suites / "test_consumer.py").write_text(
        "import pytest\n\n@pytest.mark.grade(points=2)\ndef test_oops(consumer):\n    {}['missing']\n")
    (suites / "test_payment.py").write_text((SUITES / "test_payment.py").read_text())
    zygote = Zygote()
    try:
        results = run_suites(open_submission(SOLUTIONS), zygote, suites=suites)
    finally:
        zygote.close()
    assert results["producer"].tests[0].status is Status.GRADER_ERROR
    oops = results["consumer"].tests[0]
    assert oops.status is Status.GRADER_ERROR and "KeyError" in oops.feedback and "not your fault" in oops.feedback
    assert results["payment"].score == 35


def _graded_in_a_fork(grader, path: Path, times: int = 1) -> list[tuple[bool, dict]]:
    """Grade ``path`` in a forked child of this process, ``times`` in a row: for each, whether
    the prepared run served it, and the result."""
    import os

    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            out, runs = [], []
            if grader._prepared is not None:
                prepared_run = grader._prepared.run
                grader._prepared.run = lambda sub: runs.append(sub) or prepared_run(sub)
            for _ in range(times):
                before = len(runs)
                result = grader.grade(path).to_json_dict()
                out.append((len(runs) > before, result))
            os.write(write_fd, json.dumps(out).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write_fd)
    data = b""
    while chunk := os.read(read_fd, 1 << 16):
        data += chunk
    os.close(read_fd)
    os.waitpid(pid, 0)
    return [tuple(item) for item in json.loads(data)]


def test_a_prepared_run_grades_as_a_fresh_run_once_per_fork(submission):
    """The class run's parent configures pytest and collects the suites once; a fork grades on
    that collection exactly as a fresh pytest run would (a missing file, a wrong and a correct
    one alike), only once per process, and never in the process that prepared it."""
    from grader.grade import Grader

    path = submission(producer="solution", consumer=(EXAMPLES / "classic-mistakes" / "sqs_consumer.py").read_text())
    with Grader(exercises=("producer", "consumer", "payment"), quizzes=False) as grader:
        grader.prepare()
        fresh = grader.grade(path).to_json_dict()
        assert grader._prepared.used_by == 0, "the preparing process must not use its own prepared run"
        (first_prepared, first), (second_prepared, second) = _graded_in_a_fork(grader, path, times=2)
        (again_prepared, again), = _graded_in_a_fork(grader, path)
    assert first_prepared and again_prepared and not second_prepared
    assert first == second == again == fresh
    scores = {e: r["score"] for e, r in fresh["exercises"].items()}
    assert scores["producer"] == 25 and 0 < scores["consumer"] < 40 and scores["payment"] == 0
    assert "Not graded" in fresh["exercises"]["payment"]["tests"][0]["feedback"]


def test_a_run_that_cannot_be_prepared_still_grades_on_fresh_runs(submission, monkeypatch):
    """Should pytest's internals change under PreparedRun, the class run only loses its speed."""
    import grader.runner
    from grader.grade import Grader

    def broken(*args, **kwargs):
        raise AttributeError("pytest moved")

    monkeypatch.setattr(grader.runner, "PreparedRun", broken)
    path = submission(producer="solution")
    with Grader(exercises=("producer",), quizzes=False) as grader_:
        grader_.prepare()
        assert grader_.unprepared == "AttributeError: pytest moved"
        (prepared, result), = _graded_in_a_fork(grader_, path)
    assert not prepared and result["exercises"]["producer"]["score"] == 25


def test_a_prepared_run_keeps_what_was_graded_when_pytest_fails_internally(submission, monkeypatch):
    """An error inside pytest's test loop (here: recording one test's result) ends the loop as
    pytest.main ends it: the results recorded until then stand, in a fork as in a fresh run,
    and the exercises after it say the grader could not run them."""
    from grader.grade import Grader
    from grader.harness.plugin import GradingPlugin

    record = GradingPlugin._record

    def failing_record(self, item):
        if item.name == "test_consume_processes_and_deletes":
            raise RuntimeError("a bug of ours")
        return record(self, item)

    monkeypatch.setattr(GradingPlugin, "_record", failing_record)
    path = submission(producer="solution", consumer="solution", payment="solution")
    with Grader(exercises=("producer", "consumer", "payment"), quizzes=False) as grader:
        grader.prepare()
        fresh = grader.grade(path).to_json_dict()
        (prepared, forked), = _graded_in_a_fork(grader, path)
    assert prepared and forked == fresh
    assert fresh["exercises"]["producer"]["score"] == 25
    consumer = [t["name"] for t in fresh["exercises"]["consumer"]["tests"]]
    assert consumer and "consume_processes_and_deletes" not in consumer
    assert "could not run this exercise's tests (pytest exit 3)" in fresh["exercises"]["payment"]["feedback"]
