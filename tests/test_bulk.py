"""grade-all: a class of folders and zips, broken ones among them, graded in one command into a
gradebook whose every total equals grading that student alone; resumable, idempotent, and never
writing outside its folders."""
from __future__ import annotations

import csv
import io
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from grader.bulk import gradebook
from grader.bulk.pool import Pool
from grader.bulk.sources import Student, find_students
from grader.bulk.store import Record, Store
from grader.errors import UserError
from grader.paths import EXERCISE_FILES, EXAMPLES, EXERCISES, ROOT, SOLUTIONS
from grader.quiz.loader import load_bank
from grader.render.markdown import to_markdown
from grader.results import ExerciseResult, Status, SubmissionResult, TestResult

BROKERLAB = [sys.executable, "-m", "grader"]
CODE_FILES = ("sqs_producer.py", "sqs_consumer.py", "payment_handler.py")
ANSWERS = "checkpoint:\n  q1: C\n  q2: C\n"
FULL = 200.0 + sum(q.points for quiz in load_bank().values() for q in quiz.questions)  # six exercises, quizzes
SQS_FULL = 100.0  # what alice's SQS solutions earn


def brokerlab(*args: str | Path, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([*BROKERLAB, *map(str, args)], capture_output=True, text=True, timeout=timeout, cwd=ROOT)


def copy_code(src: Path, dst: Path) -> None:
    dst.mkdir(parents=True, exist_ok=True)
    for name in CODE_FILES:
        shutil.copy(src / name, dst / name)


def zip_folder(src: Path, archive: Path, inside: str) -> None:
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(src.iterdir()):
            zf.write(path, f"{inside}/{path.name}")


def symlink_entry(zf: zipfile.ZipFile, name: str, target: str) -> None:
    info = zipfile.ZipInfo(name)
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    zf.writestr(info, target)


def make_class(root: Path) -> Path:
    """alice: the solutions and quiz answers; bob.zip: the stubs in a folder; gina: a half-right
    example; carol: empty; dave.zip: corrupt; eve.zip: an entry climbing out; frank.zip: a link."""
    source = root / "class"
    source.mkdir()
    copy_code(SOLUTIONS, source / "alice")
    (source / "alice" / "answers.yaml").write_text(ANSWERS)
    copy_code(EXERCISES, root / "bob-stub")
    zip_folder(root / "bob-stub", source / "bob.zip", "bob")
    if (EXAMPLES / "classic-mistakes").is_dir():
        shutil.copytree(EXAMPLES / "classic-mistakes", source / "gina")
    else:
        copy_code(SOLUTIONS, source / "gina")
        (source / "gina" / "payment_handler.py").write_text("def process_payment(*a):\n    return True\n")
    (source / "carol").mkdir()
    (source / "dave.zip").write_bytes(b"PK\x03\x04 not a zip at all")
    with zipfile.ZipFile(source / "eve.zip", "w") as zf:
        zf.write(SOLUTIONS / "sqs_producer.py", "sqs_producer.py")
        zf.writestr("../../eve-was-here.txt", "escaped")
    with zipfile.ZipFile(source / "frank.zip", "w") as zf:
        zf.write(SOLUTIONS / "sqs_producer.py", "sqs_producer.py")
        symlink_entry(zf, "sqs_consumer.py", "/etc/passwd")
    (source / ".DS_Store").write_bytes(b"\0")
    (source / "notes.txt").write_text("not a submission")
    return source


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def graded_count(stdout: str) -> int:
    return int(stdout.split("Graded ", 1)[1].split(" ", 1)[0])


@pytest.fixture(scope="module")
def first_run(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("bulk")
    source = make_class(root)
    out = root / "out"
    done = brokerlab("grade-all", source, "--out", out, "--jobs", "2", "--lms", "canvas",
                     "--canvas-assignment", "Lab 5", "--canvas-assignment-id", "777")
    assert done.returncode == 0, done.stderr
    return root, source, out, done


EXPECTED_STATUS = {"alice": "ok", "bob": "ok", "gina": "ok", "carol": "empty", "dave": "unreadable",
                   "eve": "unreadable", "frank": "unreadable"}


def test_every_student_gets_a_row_with_its_status(first_run):
    root, source, out, done = first_run
    rows = read_csv(out / "grades.csv")
    assert [r["student_id"] for r in rows] == sorted(EXPECTED_STATUS)
    assert {r["student_id"]: r["status"] for r in rows} == EXPECTED_STATUS
    header = list(rows[0])
    assert header[:4] == ["student_id", "producer", "consumer", "payment"]
    assert header[-3:] == ["total", "max_total", "status"]
    amqp = [e for e in EXERCISE_FILES if e.startswith("amqp_")]
    assert header[4:-3] == amqp + sorted(load_bank())  # every exercise and quiz of the assignment
    assert {r["max_total"] for r in rows} == {gradebook.number(FULL)}
    assert "notes.txt" in done.stderr  # what is not a submission is said, not silently dropped
    assert not (root / "eve-was-here.txt").exists() and not (root.parent / "eve-was-here.txt").exists()


def test_broken_submissions_score_zero_out_of_the_full_maximum(first_run):
    _, _, out, _ = first_run
    rows = {r["student_id"]: r for r in read_csv(out / "grades.csv")}
    maxima = {r["max_total"] for r in rows.values()}
    assert len(maxima) == 1 and float(maxima.pop()) >= FULL
    for student in ("carol", "dave", "eve", "frank"):
        assert rows[student]["total"] == "0"
        assert all(rows[student][c] == "0" for c in ("producer", "consumer", "payment"))
    results = {json.loads(line)["student_id"]: json.loads(line) for line in (out / "results.jsonl").open()}
    assert {r["max_score"] for r in results.values()} == {FULL}  # one maximum, whatever each handed in
    for student in ("dave", "eve", "frank"):
        assert results[student]["status"] == "unreadable"
        assert set(results[student]["exercises"]) == {*EXERCISE_FILES, *load_bank()}
    assert "climbs out" in results["eve"]["exercises"]["producer"]["feedback"]
    assert "link" in results["frank"]["exercises"]["producer"]["feedback"]


def test_totals_equal_grading_each_student_alone(first_run, grader):
    _, source, out, _ = first_run
    rows = {r["student_id"]: r for r in read_csv(out / "grades.csv")}
    stored = {json.loads(line)["student_id"]: json.loads(line) for line in (out / "results.jsonl").open()}
    assert float(rows["alice"]["total"]) == SQS_FULL + 2  # the solutions, and two quiz answers right
    for student, path in (("alice", source / "alice"), ("bob", source / "bob.zip"), ("gina", source / "gina"),
                          ("carol", source / "carol")):
        alone = grader.grade(path)
        assert rows[student]["total"] == gradebook.number(alone.score), student
        for key, exercise in alone.exercises.items():
            assert rows[student].get(key, gradebook.number(exercise.score)) == gradebook.number(exercise.score)
            tests = stored[student]["exercises"][key]["tests"]
            assert [(t["name"], t["status"], t["score"], t["feedback"]) for t in tests] == \
                [(t.name, t.status.value, t.score, t.feedback) for t in exercise.tests], (student, key)


def test_results_jsonl_is_the_grade_json_object_per_student(first_run):
    _, _, out, _ = first_run
    lines = (out / "results.jsonl").read_text(encoding="utf-8").splitlines()
    ids = [json.loads(line)["student_id"] for line in lines]
    assert ids == sorted(EXPECTED_STATUS)
    alice = json.loads(lines[0])
    assert {"score", "max_score", "status", "exercises"} <= set(alice)
    assert set(alice["exercises"]) >= {"producer", "consumer", "payment", "checkpoint"}
    assert SubmissionResult.from_json_dict(alice).score == alice["score"]


def test_feedback_files_hold_scores_and_feedback_but_no_test_source(first_run):
    _, _, out, _ = first_run
    files = sorted(p.stem for p in (out / "feedback").glob("*.md"))
    assert files == sorted(EXPECTED_STATUS)
    suite_lines = {line.strip() for f in (ROOT / "grader" / "suites").glob("test_*.py")
                   for line in f.read_text().splitlines() if len(line.strip()) > 25}
    for path in (out / "feedback").glob("*.md"):
        text = path.read_text(encoding="utf-8")
        assert "def test_" not in text and "expect(" not in text and "import pytest" not in text, path.name
        assert not [line for line in text.splitlines() if line.strip() in suite_lines], path.name
    gina = (out / "feedback" / "gina.md").read_text(encoding="utf-8")
    assert "## producer" in gina and "## payment" in gina and "/25" in gina
    assert "❌" in gina and "✅" in gina
    assert "could not be opened" in (out / "feedback" / "dave.md").read_text(encoding="utf-8")


def test_report_has_plots_and_test_names(first_run):
    _, _, out, _ = first_run
    html = (out / "report.html").read_text(encoding="utf-8")
    assert html.count('<img alt="" src="data:image/png;base64,') >= 3
    assert "create_queue_sets_attributes" in html and "Most common failing tests" in html
    assert "difficulty" in html.lower() and "discrimination" in html.lower()
    assert "http://" not in html and "https://" not in html  # self-contained
    for path in (out / "feedback").glob("*.md"):  # each student links to the file grade-all wrote for them
        assert f'href="feedback/{path.name}"' in html, path.name


def test_canvas_gradebook(first_run):
    _, _, out, _ = first_run
    rows = list(csv.reader(io.StringIO((out / "canvas.csv").read_text(encoding="utf-8"))))
    assert rows[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "Lab 5 (777)"]
    assert rows[1][0].strip() == "Points Possible" and rows[1][1:5] == ["", "", "", ""]
    grades = {r["student_id"]: r for r in read_csv(out / "grades.csv")}
    assert rows[1][5] == grades["alice"]["max_total"]
    assert {r[3]: r[5] for r in rows[2:]} == {k: v["total"] for k, v in grades.items()}


def test_rerun_grades_nothing_and_writes_the_same_bytes(first_run):
    _, source, out, _ = first_run
    before = (out / "grades.csv").read_bytes()
    done = brokerlab("grade-all", source, "--out", out, "--jobs", "2")
    assert done.returncode == 0, done.stderr
    assert graded_count(done.stdout) == 0
    assert (out / "grades.csv").read_bytes() == before


def test_resume_grades_only_what_is_missing_and_tolerates_a_torn_line(first_run):
    _, source, out, _ = first_run
    before = (out / "grades.csv").read_bytes()
    lines = (out / "results.jsonl").read_text(encoding="utf-8").splitlines(keepends=True)
    kept = [line for line in lines if json.loads(line)["student_id"] not in ("alice", "dave")]
    torn = next(line for line in lines if json.loads(line)["student_id"] == "alice")[:200]
    (out / "results.jsonl").write_text("".join(kept) + torn, encoding="utf-8")
    done = brokerlab("grade-all", source, "--out", out, "--jobs", "2")
    assert done.returncode == 0, done.stderr
    assert graded_count(done.stdout) == 2
    assert (out / "grades.csv").read_bytes() == before
    assert len((out / "results.jsonl").read_text().splitlines()) == len(EXPECTED_STATUS)


def test_student_option_regrades_just_those(first_run):
    _, source, out, _ = first_run
    before = (out / "grades.csv").read_bytes()
    done = brokerlab("grade-all", source, "--out", out, "--student", "gina", "carol")
    assert done.returncode == 0, done.stderr
    assert graded_count(done.stdout) == 2
    assert (out / "grades.csv").read_bytes() == before
    unknown = brokerlab("grade-all", source, "--out", out, "--student", "nobody")
    assert unknown.returncode != 0 and "nobody" in unknown.stderr and "Traceback" not in unknown.stderr


def test_force_regrades_everyone_to_the_same_bytes(first_run):
    _, source, out, _ = first_run
    before = (out / "grades.csv").read_bytes()
    done = brokerlab("grade-all", source, "--out", out, "--force", "--jobs", "2")
    assert done.returncode == 0, done.stderr
    assert graded_count(done.stdout) == len(EXPECTED_STATUS)
    assert (out / "grades.csv").read_bytes() == before


def test_a_changed_submission_is_graded_again(first_run, tmp_path):
    _, source, out, _ = first_run
    work = tmp_path / "class"
    shutil.copytree(source, work)
    shutil.copytree(out, tmp_path / "out")
    (work / "carol" / "sqs_producer.py").write_bytes((SOLUTIONS / "sqs_producer.py").read_bytes())
    done = brokerlab("grade-all", work, "--out", tmp_path / "out")
    assert done.returncode == 0, done.stderr
    assert graded_count(done.stdout) == 1
    carol = {r["student_id"]: r for r in read_csv(tmp_path / "out" / "grades.csv")}["carol"]
    assert carol["status"] == "ok" and carol["producer"] == "25"


def test_manual_scores_reach_the_gradebook_but_not_the_store(first_run, tmp_path):
    _, source, out, _ = first_run
    work = tmp_path / "out"
    shutil.copytree(out, work)
    store_before = (work / "results.jsonl").read_bytes()
    alice = {r["student_id"]: r for r in read_csv(work / "grades.csv")}["alice"]
    manual = tmp_path / "manual.yaml"
    manual.write_text("alice:\n  checkpoint:\n    q3: {points: 2, comment: Nice contrast with a database.}\n")
    done = brokerlab("grade-all", source, "--out", work, "--manual-scores", manual)
    assert done.returncode == 0, done.stderr
    assert graded_count(done.stdout) == 0
    after = {r["student_id"]: r for r in read_csv(work / "grades.csv")}["alice"]
    assert float(after["checkpoint"]) == float(alice["checkpoint"]) + 2
    assert float(after["total"]) == float(alice["total"]) + 2
    assert "Nice contrast with a database." in (work / "feedback" / "alice.md").read_text(encoding="utf-8")
    assert (work / "results.jsonl").read_bytes() == store_before
    manual.write_text("alice:\n  checkpoint:\n    q9: 1\n")
    bad = brokerlab("grade-all", source, "--out", work, "--manual-scores", manual)
    assert bad.returncode != 0 and "q9" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1


def test_a_class_zip_grades_like_the_folder_and_refuses_hostile_students(first_run, tmp_path):
    _, source, out, _ = first_run
    archive = tmp_path / "class.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(source.rglob("*")):
            rel = path.relative_to(source.parent).as_posix()
            zf.write(path, rel + ("/" if path.is_dir() else ""))
        zf.writestr("class/mallory/../../../mallory-was-here.txt", "escaped")
        zf.writestr("class/mallory/sqs_producer.py", "x = 1\n")
        symlink_entry(zf, "class/oscar/sqs_producer.py", "/etc/passwd")
        zf.writestr("../outside.txt", "escaped")
        zf.writestr("/abs.txt", "escaped")
    done = brokerlab("grade-all", archive, "--out", tmp_path / "out", "--jobs", "2")
    assert done.returncode == 0, done.stderr
    rows = {r["student_id"]: r for r in read_csv(tmp_path / "out" / "grades.csv")}
    assert rows.pop("mallory")["status"] == "unreadable"
    assert rows.pop("oscar")["status"] == "unreadable"
    folder_rows = {r["student_id"]: r for r in read_csv(out / "grades.csv")}
    assert rows == folder_rows
    for escaped in ("mallory-was-here.txt", "outside.txt", "abs.txt"):
        assert not list(tmp_path.rglob(escaped)) and not (Path("/") / escaped).exists()
        assert not (Path(os.environ.get("TMPDIR", "/tmp")) / escaped).exists()


def test_a_killed_run_resumes_with_only_what_is_missing(tmp_path):
    source = tmp_path / "class"
    source.mkdir()
    for i in range(4):
        copy_code(SOLUTIONS if i % 2 == 0 else EXERCISES, source / f"s{i}")
    out = tmp_path / "out"
    process = subprocess.Popen([*BROKERLAB, "grade-all", str(source), "--out", str(out), "--jobs", "1"],
                               cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        store = out / "results.jsonl"
        if store.exists() and store.read_bytes().count(b"\n") >= 1:
            break
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert not (out / "grades.csv").exists()  # it never got that far
    done = brokerlab("grade-all", source, "--out", out, "--jobs", "2")
    assert done.returncode == 0, done.stderr
    assert 0 < graded_count(done.stdout) < 4
    rows = read_csv(out / "grades.csv")
    assert [r["total"] for r in rows] == ["100", "0", "100", "0"]


# -- the parts, without grading -------------------------------------------------------------------

def result_with(score: float, status: str = "ok") -> SubmissionResult:
    tests = [TestResult(name="t1", score=score, max_score=10, status=Status.PASSED if score else Status.FAILED)]
    return SubmissionResult(exercises={"producer": ExerciseResult(tests=tests)}, status=status)


def test_store_keeps_the_last_line_and_cuts_a_torn_end(tmp_path):
    store = Store(tmp_path / "results.jsonl")
    store.append(Record("a", "f1", result_with(1)))
    store.append(Record("b", "f1", result_with(2)))
    store.append(Record("a", "f2", result_with(3)))
    with open(store.path, "ab") as fh:
        fh.write(b'{"student_id": "c", "score": 1')
    store.repair()
    assert store.path.read_bytes().endswith(b"\n")
    store.append(Record("d", "f1", result_with(4)))
    records = store.load()
    assert store.dropped == 0
    assert {k: (r.fingerprint, r.result.score) for k, r in records.items()} == \
        {"a": ("f2", 3), "b": ("f1", 2), "d": ("f1", 4)}
    store.rewrite(records.values())
    assert [json.loads(line)["student_id"] for line in store.path.read_text().splitlines()] == ["a", "b", "d"]


def test_gradebook_numbers_columns_and_order():
    assert [gradebook.number(x) for x in (85.0, 12.5, 0.1 + 0.2, -0.0, 99.99999, 1 / 3)] == \
        ["85", "12.5", "0.3", "0", "100", "0.3333"]
    quiz = ExerciseResult(kind="quiz", tests=[TestResult(name="q1: x", score=1, max_score=2, status=Status.FAILED)])
    typo = ExerciseResult(kind="quiz", feedback="there is no quiz 'chekpoint'")
    results = {"zed": result_with(10), "amy": result_with(0, "empty"),
               "bo": SubmissionResult(exercises={**result_with(5).exercises, "checkpoint": quiz, "chekpoint": typo})}
    header, rows = gradebook.grade_rows(results)
    assert header == ["student_id", "producer", "consumer", "payment", "amqp_producer", "amqp_consumer",
                      "amqp_routing", "checkpoint", "total", "max_total", "status"]
    assert [r[0] for r in rows] == ["amy", "bo", "zed"]
    assert rows[1] == ["bo", "5", "0", "0", "0", "0", "0", "1", "6", "12", "ok"]
    assert gradebook.grades_csv(results) == gradebook.grades_csv(dict(reversed(list(results.items()))))


def test_sources_refuse_duplicates_and_list_the_rest(tmp_path):
    (tmp_path / "ann").mkdir()
    (tmp_path / "ann.zip").write_bytes(b"")
    with pytest.raises(UserError, match="ann"):
        find_students(tmp_path, tmp_path / "unpack")
    (tmp_path / "ann.zip").unlink()
    (tmp_path / "readme.md").write_text("hi")
    (tmp_path / "__MACOSX").mkdir()
    found = find_students(tmp_path, tmp_path / "unpack")
    assert [s.id for s in found.students] == ["ann"]
    assert any("readme.md" in line for line in found.ignored)
    with pytest.raises(UserError):
        find_students(tmp_path / "missing", tmp_path / "unpack")


def test_markdown_never_shows_grader_internals():
    error = TestResult(name="broken", score=0, max_score=3, status=Status.GRADER_ERROR,
                       feedback="The grader hit an internal error", traceback="File grader/suites/test_x.py\n"
                                                                           "    expect(False, 'x')")
    failed = TestResult(name="t", score=0, max_score=2, status=Status.FAILED, feedback="<b>wrong</b>",
                        output="```\nprinted\n", traceback="File sqs_producer.py, line 3\nValueError: mine")
    result = SubmissionResult(exercises={"producer": ExerciseResult(tests=[error, failed])})
    text = to_markdown(result, "amy")
    assert "expect(" not in text and "test_x.py" not in text
    assert "ValueError: mine" in text and "&lt;b&gt;wrong" in text
    assert "\n        ```\n        printed\n" in text  # inside an indented code block, which no backtick ends


def test_a_free_response_waiting_for_a_person_keeps_its_model_answer_from_the_student():
    from grader.render.gradescope import to_gradescope

    waiting = TestResult(name="q3: Broker vs database", score=0, max_score=3, status=Status.NEEDS_GRADING,
                         feedback="Waits for a person to grade it.\nAnswer given: they differ\n"
                                  "Rubric (3 points):\n- [1] names retention\nModel answer:\nBrokers delete.")
    result = SubmissionResult(exercises={"checkpoint": ExerciseResult(kind="quiz", tests=[waiting])})
    text = to_markdown(result, "amy")
    assert "Answer given: they differ" in text and "Waits for a person" in text
    assert "Model answer" not in text and "Brokers delete" not in text and "names retention" not in text
    (test,) = to_gradescope(result)["tests"]
    assert "Waits for a person" in test["output"] and "Brokers delete" not in test["output"]


def test_pool_times_out_a_submission_that_spins(tmp_path):
    spin = tmp_path / "spin"
    spin.mkdir()
    (spin / "sqs_producer.py").write_text("while True:\n    pass\n")
    outcomes = []
    with Pool(jobs=1, timeout=1.0) as pool:
        pool.run([Student("spin", spin)], outcomes.append)
    (outcome,) = outcomes
    assert outcome.result.status == "timed out"
    assert outcome.result.score == 0 and outcome.result.max_score == FULL
    assert "took more than" in outcome.result.exercises["producer"].feedback


def test_past_the_unpacked_size_limit_a_student_is_refused(tmp_path):
    from grader.submission import MAX_ARCHIVE_BYTES, UnreadableSubmission, open_submission

    big = b"\0" * (MAX_ARCHIVE_BYTES + 1)
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("sqs_producer.py", "x = 1\n")
        zf.writestr("padding.bin", big)
    assert bomb.stat().st_size < 1024 * 1024
    with pytest.raises(UnreadableSubmission, match="MiB"):
        open_submission(bomb)  # what each grading child does with a student's zip
    archive = tmp_path / "class.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("huge/sqs_producer.py", "x = 1\n")
        zf.writestr("huge/padding.bin", big)
        zf.writestr("small/sqs_producer.py", "x = 1\n")
    unpack = tmp_path / "unpack"
    found = find_students(archive, unpack)
    by_id = found.by_id()
    assert by_id["huge"].path is None and "MiB" in (by_id["huge"].refused or "")
    assert by_id["small"].path is not None and by_id["small"].refused is None
    assert not (unpack / "class" / "huge").exists()


def test_bad_arguments_are_one_line_errors_and_create_nothing(tmp_path):
    (tmp_path / "class" / "ann").mkdir(parents=True)
    for args in (["grade-all", tmp_path / "class", "--out", tmp_path / "class" / "out"],
                 ["grade-all", tmp_path / "missing", "--out", tmp_path / "out"],
                 ["grade-all", tmp_path / "class", "--out", tmp_path / "out", "--jobs", "0"]):
        done = brokerlab(*args)
        assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, done.stderr
        assert "Traceback" not in done.stderr
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["ann", "class"]


def test_only_a_class_that_may_hold_an_amqp_file_needs_rabbitmq(tmp_path):
    """The run's RabbitMQ costs seconds of CPU: a class with no AMQP track file never starts it
    (a file that is no zip archive holds none: it is refused unread), and one that may hold one
    (where a folder's entry cannot be told, it may) always does."""
    from grader.bulk.command import needs_rabbitmq
    from grader.submission import wanted_names

    sqs = tmp_path / "sqs"
    copy_code(SOLUTIONS, sqs)
    nested = tmp_path / "nested"
    copy_code(SOLUTIONS, nested / "inside")
    zipped = tmp_path / "zipped.zip"
    zip_folder(sqs, zipped, "zipped")
    students = [Student("sqs", sqs), Student("nested", nested), Student("zipped", zipped),
                Student("refused", None, "climbs out")]
    assert wanted_names(nested) == frozenset(CODE_FILES)
    assert wanted_names(zipped) == frozenset(CODE_FILES)
    assert not needs_rabbitmq(students)

    amqp = tmp_path / "amqp"
    amqp.mkdir()
    shutil.copy(SOLUTIONS / "amqp_routing.py", amqp / "amqp_routing.py")
    amqp_zip = tmp_path / "amqp-zip.zip"
    zip_folder(amqp, amqp_zip, "amqp-zip")
    corrupt = tmp_path / "corrupt.zip"
    corrupt.write_bytes(b"PK\x03\x04 not really a zip")
    assert wanted_names(corrupt) == frozenset() and not needs_rabbitmq(students + [Student("corrupt", corrupt)])
    link = tmp_path / "link"
    link.symlink_to(amqp)
    for odd in (amqp, amqp_zip, link):
        assert needs_rabbitmq(students + [Student(odd.name, odd)]), odd.name
    assert wanted_names(link) is None


def test_grade_all_of_a_class_without_amqp_files_never_launches_rabbitmq(tmp_path, monkeypatch):
    from grader.amqp import service
    from grader.cli import main

    launched = []
    monkeypatch.setattr(service, "launch", lambda: launched.append(True))
    source = tmp_path / "class"
    copy_code(EXERCISES, source / "stubbed")
    assert main(["grade-all", str(source), "--out", str(tmp_path / "out"), "--quiet", "--jobs", "1"]) == 0
    assert (tmp_path / "out" / "grades.csv").is_file() and launched == []
