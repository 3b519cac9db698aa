"""``brokerlab lms push canvas``: a graded class's grades and comments reach Canvas in one bulk
update whose progress is followed, against a Canvas on loopback (``tests/fake_canvas.py``) that
records what it received; the token is never shown and a dry run sends nothing."""
from __future__ import annotations

import socket
from pathlib import Path

import pytest

from fake_canvas import FakeCanvas, User
from grader.bulk.store import FILE_NAME, Record, Store
from grader.cli import main
from grader.errors import UserError
from grader.integrations import canvas
from grader.results import ExerciseResult, Status, SubmissionResult, TestResult

TOKEN = "7~s3cr3t-T0KEN-never-shown"
ROSTER = [User(1001, "alice", "alice@uni.example"), User(1002, "bob", "bob@uni.example"),
          User(1003, "carol", "carol@uni.example")]


def case(name: str, score: float, points: float, status: Status = Status.PASSED, feedback: str = "",
         **extra: str) -> TestResult:
    return TestResult(name=name, score=score, max_score=points, status=status, feedback=feedback, **extra)


def full() -> SubmissionResult:
    return SubmissionResult(exercises={
        "producer": ExerciseResult(tests=[case("sends_json_body", 25, 25)]),
        "consumer": ExerciseResult(tests=[case("deletes_after_processing", 40, 40)]),
        "checkpoint": ExerciseResult(kind="quiz", tests=[case("q1: Acknowledgements", 2, 2)]),
    })


def half() -> SubmissionResult:
    return SubmissionResult(exercises={
        "producer": ExerciseResult(tests=[case("sends_json_body", 25, 25)]),
        "consumer": ExerciseResult(tests=[
            case("deletes_after_processing", 20, 20),
            case("stops_after_empty_polls", 0, 20, Status.TIMEOUT,
                 "Your loop never ended on an empty queue: stop after N empty long polls.\nmore detail",
                 output="polling...\n", traceback="Traceback: in sqs_consumer.py line 3"),
        ]),
        "checkpoint": ExerciseResult(kind="quiz", tests=[
            case("q1: Acknowledgements", 0, 2, Status.FAILED,
                 "Not quite: the right answer is C.\nExplanation: brokers delete acknowledged messages."),
        ]),
    })


def empty() -> SubmissionResult:
    return SubmissionResult(status="empty", exercises={
        "producer": ExerciseResult(feedback="sqs_producer.py is missing", tests=[
            case("sends_json_body", 0, 25, Status.ERROR, "Not graded: sqs_producer.py is missing")]),
    })


def write_class(outdir: Path, results: dict[str, SubmissionResult]) -> Path:
    outdir.mkdir(parents=True, exist_ok=True)
    Store(outdir / FILE_NAME).rewrite(Record(sid, "fp", r) for sid, r in results.items())
    return outdir


CLASS = {"alice": full, "bob": half, "carol": empty}
CLASS_MAX = 67  # producer 25, consumer 40, checkpoint 2: what every student's grade is out of


@pytest.fixture
def outdir(tmp_path: Path) -> Path:
    return write_class(tmp_path / "out", {sid: make() for sid, make in CLASS.items()})


@pytest.fixture(autouse=True)
def quick_polls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(canvas, "POLL_DELAYS", (0.0,))


@pytest.fixture
def token(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("CANVAS_API_TOKEN", TOKEN)
    return TOKEN


def push(capsys: pytest.CaptureFixture[str], server: FakeCanvas | None, outdir: Path, *extra: str,
         url: str | None = None) -> tuple[int, str, str]:
    """Run the command in this process; whatever it printed never holds the token."""
    where = url or (server.url if server else "https://canvas.example.edu")
    code = main(["lms", "push", "canvas", str(outdir), "--url", where, "--course", "7", "--assignment", "42",
                 *extra])
    out, err = capsys.readouterr()
    assert TOKEN not in out and TOKEN not in err
    assert "s3cr3t" not in out + err
    return code, out, err


def test_every_grade_and_comment_reaches_canvas_and_the_progress_is_followed(outdir, token, capsys):
    with FakeCanvas(TOKEN, ROSTER) as server:
        code, out, err = push(capsys, server, outdir)
    assert code == 0, out + err
    results = {sid: make() for sid, make in CLASS.items()}
    assert server.grade_data() == {
        f"sis_user_id:{sid}": {"posted_grade": canvas.number(r.score), "text_comment": canvas.comment(r, out_of=CLASS_MAX)}
        for sid, r in results.items()}
    assert {user: fields["posted_grade"] for user, fields in server.grades.items()} == \
        {1001: "67", 1002: "45", 1003: "0"}
    assert server.grades[1003]["text_comment"].startswith("Broker Lab: 0/67 (producer 0/25)\n")
    assert all(r.headers["Authorization"] == f"Bearer {TOKEN}" for r in server.requests)
    assert [(r.method, r.path) for r in server.requests] == [
        ("GET", "/api/v1/courses/7"), ("GET", "/api/v1/courses/7/assignments/42"),
        ("POST", "/api/v1/courses/7/assignments/42/submissions/update_grades"),
        ("GET", "/api/v1/progress/1"), ("GET", "/api/v1/progress/1")]
    assert server.jobs[1].progress["workflow_state"] == "completed"
    assert [line for line in err.splitlines() if line.startswith("Canvas: ") and "%" in line] == [
        "Canvas: queued 0%", "Canvas: running 50%", "Canvas: completed 100%"]
    for sid in CLASS:
        assert any(line.split()[:2] == [sid, f"sis_user_id:{sid}"] and line.endswith("updated")
                   for line in out.splitlines())
    assert "Updated 3 of 3 student(s)." in out
    assert "Note: the Canvas assignment is out of 100 points, these grades out of 67" in err


def test_no_note_when_canvas_counts_the_same_total(outdir, token, capsys):
    with FakeCanvas(TOKEN, ROSTER, points_possible=CLASS_MAX) as server:
        code, out, err = push(capsys, server, outdir)
    assert code == 0 and "Note:" not in out + err


def test_a_failed_progress_is_an_error_with_a_non_zero_exit(outdir, token, capsys):
    states = ("queued", "running", "failed")
    with FakeCanvas(TOKEN, ROSTER, states=states, fail_message="The gradebook is locked") as server:
        code, out, err = push(capsys, server, outdir)
    assert code == 1
    assert "Canvas: failed" in err
    assert "Canvas failed the update: The gradebook is locked" in out
    assert "Updated 0 of 3" in out
    assert not any(line.endswith("updated") for line in out.splitlines())


def test_students_canvas_does_not_know_are_named_and_the_others_are_updated(outdir, token, capsys):
    with FakeCanvas(TOKEN, ROSTER[:2]) as server:
        code, out, err = push(capsys, server, outdir)
    assert code == 1
    assert sorted(server.grades) == [1001, 1002]
    line = next(line for line in out.splitlines() if line.strip().startswith("carol"))
    assert line.endswith("not found in Canvas")
    assert "found no user for 1" in out and "Updated 2 of 3" in out


def test_a_progress_that_never_ends_is_given_up_in_bounded_time(outdir, token, capsys):
    with FakeCanvas(TOKEN, ROSTER, states=("queued",) + ("running",) * 10_000) as server:
        code, out, err = push(capsys, server, outdir, "--wait", "0.3")
    assert code == 1
    assert "Canvas was still running after 0.3 s" in out
    assert f"{server.url}/api/v1/progress/1" in out
    assert all(line.endswith("sent, not confirmed") for line in out.splitlines()
               if line.strip().startswith(("alice", "bob", "carol")))


def test_the_dry_run_sends_nothing_and_prints_what_it_would_send(outdir, monkeypatch, capsys):
    monkeypatch.delenv("CANVAS_API_TOKEN", raising=False)  # and needs no token
    with FakeCanvas(TOKEN, ROSTER) as server:
        code, out, err = push(capsys, server, outdir, "--dry-run")
    assert code == 0, out + err
    assert server.requests == []
    assert "nothing was sent" in out and "points out of 67" in out
    assert f"{server.url}/api/v1/courses/7/assignments/42/submissions/update_grades" in out
    for sid, make in CLASS.items():
        result = make()
        first = canvas.comment(result, out_of=CLASS_MAX).splitlines()[0]
        assert f"sis_user_id:{sid}" in out and first in out
        row = next(line for line in out.splitlines() if line.strip().startswith(sid))
        assert row.split()[:3] == [sid, f"sis_user_id:{sid}", canvas.number(result.score)]
        assert row.endswith(first)


def test_an_id_map_is_followed_and_unmapped_students_are_listed(outdir, token, tmp_path, capsys):
    id_map = tmp_path / "ids.csv"
    id_map.write_text("student_id,canvas_user_id\nalice,1001\nbob,sis_login_id:bob@uni.example\n"
                      "zed,1009\n")
    with FakeCanvas(TOKEN, ROSTER) as server:
        code, out, err = push(capsys, server, outdir, "--id-map", str(id_map))
    assert code == 1  # carol's grade did not go
    assert set(server.grade_data()) == {"1001", "sis_login_id:bob@uni.example"}
    assert sorted(server.grades) == [1001, 1002]
    assert f"Not sent (1 student(s)):\n  carol: not in {id_map}" in out
    assert "names 1 student(s) not in results.jsonl: zed" in out
    assert "Updated 2 of 3 student(s); 1 not sent." in out


def test_students_whose_id_cannot_be_a_canvas_id_are_listed_and_not_sent(tmp_path, token, capsys):
    outdir = write_class(tmp_path / "out", {"1001": full(), "bob": half()})
    with FakeCanvas(TOKEN, ROSTER) as server:
        code, out, err = push(capsys, server, outdir, "--id-field", "id")
    assert code == 1
    assert set(server.grade_data()) == {"1001"}
    assert "bob: the id cannot be a Canvas id (not a number): give --id-map" in out


def test_a_missing_token_is_a_one_line_error_and_nothing_is_sent(outdir, monkeypatch, capsys):
    monkeypatch.delenv("CANVAS_API_TOKEN", raising=False)
    with FakeCanvas(TOKEN, ROSTER) as server:
        code, out, err = push(capsys, server, outdir)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1
    assert err.startswith("brokerlab lms: error: CANVAS_API_TOKEN is not set")
    assert server.requests == []


def test_a_token_canvas_refuses_is_a_one_line_error_that_never_shows_it(outdir, monkeypatch, capsys):
    monkeypatch.setenv("MY_TOKEN", TOKEN)
    with FakeCanvas("another-token", ROSTER) as server:
        code, out, err = push(capsys, server, outdir, "--token-env", "MY_TOKEN")
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and "Canvas refused the token" in err
    assert server.posts() == []


def test_a_wrong_course_is_reported_before_any_grade_is_sent(outdir, token, capsys):
    with FakeCanvas(TOKEN, ROSTER, course_id=8) as server:
        code, out, err = push(capsys, server, outdir)
    assert code == 2 and "no course 7 with an assignment 42" in err
    assert server.posts() == []


def test_the_token_never_travels_over_plain_http_to_another_host(outdir, token, capsys):
    code, out, err = push(capsys, None, outdir, url="http://canvas.example.edu")
    assert code == 2 and "use https" in err


def test_a_student_the_grader_failed_on_is_not_sent_a_zero(tmp_path, token, capsys):
    broken = SubmissionResult(status="grader error", exercises={"producer": ExerciseResult(tests=[
        case("sends_json_body", 0, 25, Status.GRADER_ERROR, "internal: KeyError in harness")])})
    outdir = write_class(tmp_path / "out", {"alice": full(), "dave": broken})
    with FakeCanvas(TOKEN, ROSTER) as server:
        code, out, err = push(capsys, server, outdir)
    assert code == 1
    assert set(server.grade_data()) == {"sis_user_id:alice"}
    assert "dave: the grader failed on this submission: grade it again first" in out


def test_the_comment_is_a_short_summary_without_sources_outputs_or_quiz_answers():
    text = canvas.comment(half())
    assert text.splitlines()[0] == "Broker Lab: 45/67 (producer 25/25, consumer 20/40, checkpoint 0/2)"
    assert "- consumer, stops_after_empty_polls (0/20): Your loop never ended on an empty queue: stop after " \
           "N empty long polls." in text
    assert "more detail" not in text  # one line per test
    assert "polling..." not in text and "Traceback" not in text and "sqs_consumer.py line" not in text
    assert "right answer" not in text and "Explanation" not in text and "C." not in text
    assert "- checkpoint: 1 of 1 questions without full marks" in text
    assert "deletes_after_processing" not in text  # what passed is in the scores


def test_the_comment_is_capped_and_says_how_much_was_left_out():
    many = SubmissionResult(exercises={"consumer": ExerciseResult(tests=[
        case(f"check_{i}", 0, 1, Status.FAILED, "x" * 500) for i in range(40)])})
    text = canvas.comment(many)
    assert len(text) <= canvas.COMMENT_LIMIT
    assert all(len(line) <= canvas.LINE_LIMIT + 40 for line in text.splitlines())
    assert text.splitlines()[-1].startswith("... and ") and "more" in text.splitlines()[-1]


def test_the_comment_of_an_unreadable_submission_says_why_once():
    reason = "the zip is corrupt"
    result = SubmissionResult(status="unreadable", exercises={key: ExerciseResult(feedback=reason, tests=[
        case("t", 0, 10, Status.ERROR, f"Not graded: {reason}")]) for key in ("producer", "consumer")})
    assert canvas.comment(result).splitlines()[1:] == [canvas.STATUS_LINES["unreadable"], f"Why: {reason}"]


def test_a_free_response_waiting_for_a_person_is_named_not_its_rubric():
    waiting = SubmissionResult(exercises={"discussion": ExerciseResult(kind="quiz", tests=[
        case("q3: Why ack", 0, 4, Status.NEEDS_GRADING,
             "Waits for a person to grade it.\nAnswer given: x\nRubric (4 points):\n- [2] names the ack\n"
             "Model answer:\nBecause ...")])})
    text = canvas.comment(waiting)
    assert "discussion: 1 answer(s) wait for a person to grade them" in text
    assert "Rubric" not in text and "Model answer" not in text and "names the ack" not in text


@pytest.mark.parametrize("rows, message", [
    ("student_id,canvas_user_id\nalice,1001\nalice,1002\n", "alice is mapped twice"),
    ("student_id,canvas_user_id\nalice,1001\nbob,1001\n", "1001 is already alice's"),
    ("student_id,canvas_user_id\nalice,alice@uni\n", "is not a Canvas user id"),
    ("name,id\nalice,1001\n", "the first line must be 'student_id,canvas_user_id'"),
])
def test_an_id_map_that_would_send_a_grade_to_the_wrong_place_is_refused(tmp_path, rows, message):
    path = tmp_path / "ids.csv"
    path.write_text(rows)
    with pytest.raises(UserError, match=message):
        canvas.read_id_map(path)


def test_an_outdir_without_results_says_to_run_grade_all(tmp_path, token, capsys):
    code, out, err = push(capsys, None, tmp_path)
    assert code == 2 and "run 'brokerlab grade-all SOURCE --out" in err


def test_just_the_named_students_are_sent(outdir, token, capsys):
    with FakeCanvas(TOKEN, ROSTER) as server:
        code, out, err = push(capsys, server, outdir, "--student", "bob")
    assert code == 0, out + err
    assert set(server.grade_data()) == {"sis_user_id:bob"}
    assert server.grade_data()["sis_user_id:bob"]["text_comment"].startswith("Broker Lab: 45/67 ")


def test_points_a_person_gave_are_in_the_grade_sent(tmp_path, token, capsys):
    waiting = SubmissionResult(exercises={
        "producer": ExerciseResult(tests=[case("sends_json_body", 25, 25)]),
        "checkpoint": ExerciseResult(kind="quiz", tests=[
            case("q3: Broker vs database", 0, 3, Status.NEEDS_GRADING, "Waits for a person to grade it.")])})
    outdir = write_class(tmp_path / "out", {"alice": waiting})
    manual = tmp_path / "manual.yaml"
    manual.write_text("alice:\n  checkpoint:\n    q3: {points: 2, comment: Nice contrast with a database.}\n")
    with FakeCanvas(TOKEN, ROSTER) as server:
        code, out, err = push(capsys, server, outdir, "--dry-run")
        assert "1 student(s) have free responses waiting for a person (alice)" in out
        code, out, err = push(capsys, server, outdir, "--manual-scores", str(manual))
    assert code == 0, out + err
    sent = server.grade_data()["sis_user_id:alice"]
    assert sent["posted_grade"] == "27"
    assert sent["text_comment"].splitlines()[0] == "Broker Lab: 27/28 (producer 25/25, checkpoint 2/3)"
    assert "waiting for a person" not in out


def test_a_canvas_that_never_answers_is_given_up_on(outdir, token, monkeypatch, capsys):
    monkeypatch.setattr(canvas, "HTTP_TIMEOUT", 0.3)
    with socket.create_server(("127.0.0.1", 0)) as silent:  # listens, never answers
        port = silent.getsockname()[1]
        code, out, err = push(capsys, None, outdir, url=f"http://127.0.0.1:{port}")
    assert code == 2 and "no answer within 0.3 s" in err
