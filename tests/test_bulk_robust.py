"""A class run always finishes: whatever one student's submission, code or grading did, every
student gets a row, every output is written, and cleaning up never fails the run.

The attacks come from outside: a class archive, student folder names, what a student's code
can leave in its temporary folder (a tree thousands of folders deep, folders made unreadable),
a grading child that crashes or sends garbage, a result that cannot be rendered.
"""
from __future__ import annotations

import argparse
import csv
import os
import re
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import pytest

from grader.bulk import command, pool as pool_module
from grader.bulk.command import to_grade, write_outputs
from grader.bulk.cleanup import remove_stale
from grader.bulk.pool import Pool
from grader.bulk.sources import Student, find_students, unpack_class
from grader.bulk.store import Record
from grader.integrations.nbgrader.submitted import find_nbgrader_students
from grader.paths import ROOT, SOLUTIONS
from grader.results import ExerciseResult, Status, SubmissionResult, TestResult

DEPTH = 5000


def deep_tree(root: Path, depth: int = DEPTH, unreadable_every: int = 0) -> None:
    """``depth`` nested folders with a file in each, made the way student code can (relative to
    an open folder, so no path is ever too long); every ``unreadable_every``-th one chmod 000
    once the tree is built."""
    root.mkdir(parents=True)
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    locked: list[int] = []
    try:
        for level in range(depth):
            os.mkdir("d", dir_fd=fd)
            os.close(os.open("f", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd))
            child = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            if unreadable_every and level % unreadable_every == unreadable_every - 1:
                locked.append(os.dup(child))
            os.close(fd)
            fd = child
        for folder in locked:
            os.fchmod(folder, 0)
    finally:
        for folder in [fd, *locked]:
            os.close(folder)


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def result_with(status: Status = Status.PASSED, whole: str = "ok") -> SubmissionResult:
    tests = [TestResult(name="t1", score=1 if status is Status.PASSED else 0, max_score=1, status=status)]
    return SubmissionResult(exercises={"producer": ExerciseResult(tests=tests)}, status=whole)


# -- cleanup -------------------------------------------------------------------------------------

def test_removing_a_stale_folder_5000_deep_never_raises(tmp_path):
    stale = tmp_path / f"{pool_module.TMP_PREFIX}{dead_pid()}-x"
    deep_tree(stale / "job", unreadable_every=7)
    try:
        remove_stale(tmp_path, pool_module.TMP_PREFIX)  # shutil.rmtree raises RecursionError here, ignore_errors or not
        assert not stale.exists()
    finally:  # pytest's own cleanup of its temporary folders is rmtree too
        subprocess.run(["rm", "-rf", str(stale)], check=False)


def test_removing_a_folder_made_unreadable_works_without_root():
    """As a normal user, a chmod 000 folder is left behind by rmtree(ignore_errors=True)."""
    base = Path(tempfile.mkdtemp(dir="/tmp"))  # reachable by the unprivileged user below
    base.chmod(0o777)
    stale = base / f"{pool_module.TMP_PREFIX}{dead_pid()}-x"
    pid = os.fork()
    if pid == 0:  # the child: drop root if we have it, make the tree and clean it as that user
        code = 2
        try:
            if os.geteuid() == 0:
                os.setgid(65534)
                os.setuid(65534)
            deep_tree(stale / "job", depth=50, unreadable_every=3)
            (stale / "job").chmod(0)
            remove_stale(base, pool_module.TMP_PREFIX)
            code = 1 if stale.exists() else 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    try:
        assert os.waitstatus_to_exitcode(status) == 0
    finally:
        subprocess.run(["rm", "-rf", str(base)], check=False)


def test_what_a_students_grading_leaves_in_its_temporary_folder_never_stops_the_pool(tmp_path, monkeypatch):
    """The child's TMPDIR holds the student code's scratch folders: any depth, any mode."""
    real = Pool._grade

    def grade(self, student):  # type: ignore[no-untyped-def]
        if student.id == "deep":
            deep_tree(Path(tempfile.gettempdir()) / "scratch", unreadable_every=11)
        return real(self, student)

    monkeypatch.setattr(Pool, "_grade", grade)
    (tmp_path / "deep").mkdir()
    (tmp_path / "next").mkdir()
    outcomes = []
    with Pool(jobs=1, timeout=120) as pool:
        pool.run([Student("deep", tmp_path / "deep"), Student("next", tmp_path / "next")], outcomes.append)
        assert not any(pool.tmp.glob("job-*"))
    assert [(o.student.id, o.result.status) for o in outcomes] == [("deep", "empty"), ("next", "empty")]


# -- a child that crashes, returns garbage or floods -------------------------------------------

def test_a_child_that_crashes_or_sends_garbage_costs_only_its_own_student(tmp_path, monkeypatch):
    real = Pool._child
    sends = {"crash": None, "list": b"[1, 2]", "text": b'"result"', "not utf-8": b"\xff\xfe{",
             "bad result": b'{"result": {"exercises": 5}}', "deep": b"[" * 100_000, "flood": b"x" * 3_000_000}

    def child(self, student, write_fd, tmp):  # type: ignore[no-untyped-def]
        if student.id in sends:
            data = sends[student.id]
            if data is not None:
                view = memoryview(data)
                while view:
                    view = view[os.write(write_fd, view):]
            os._exit(3)
        real(self, student, write_fd, tmp)

    monkeypatch.setattr(Pool, "_child", child)
    monkeypatch.setattr(pool_module, "MAX_PAYLOAD", 1_000_000, raising=False)
    (tmp_path / "fine").mkdir()
    students = [Student(i, tmp_path / "fine") for i in [*sends, "fine"]]
    outcomes = {}
    with Pool(jobs=2, timeout=120) as pool:
        pool.run(students, lambda o: outcomes.__setitem__(o.student.id, o))
    assert set(outcomes) == {s.id for s in students}
    assert outcomes["fine"].result.status == "empty"
    for student_id in sends:
        result = outcomes[student_id].result
        assert result.status == "grader error" and result.score == 0, student_id
        assert result.max_score == outcomes["fine"].result.max_score  # out of the class's maximum
    assert "more than" in outcomes["flood"].note


# -- resuming ----------------------------------------------------------------------------------------

def test_a_result_with_a_grader_error_in_one_test_is_graded_again():
    students = [Student("amy", Path("amy")), Student("ben", Path("ben")), Student("cat", Path("cat"))]
    records = {"amy": Record("amy", "fp", result_with(Status.GRADER_ERROR)),
               "ben": Record("ben", "fp", result_with(whole="grader error")),
               "cat": Record("cat", "fp", result_with())}
    todo = to_grade(students, records, {"amy": "fp", "ben": "fp", "cat": "fp"}, [], False)
    assert [s.id for s in todo] == ["amy", "ben"]


# -- every output, whatever one student's result ---------------------------------------------------

def outputs_args() -> argparse.Namespace:
    return argparse.Namespace(lms="canvas", canvas_assignment="Lab", canvas_assignment_id=None,
                              canvas_id_field="SIS Login ID")


def test_a_feedback_or_report_that_cannot_be_rendered_costs_nobody_else(tmp_path, monkeypatch):
    import grader.render.markdown as markdown
    import grader.report.html as html

    real = markdown.to_markdown

    def to_markdown(result, student_id=None, title="Broker Lab"):  # type: ignore[no-untyped-def]
        if student_id == "mallory":
            raise RecursionError("maximum recursion depth exceeded")
        return real(result, student_id, title)

    def report(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise ValueError("a plot could not be drawn")

    monkeypatch.setattr(markdown, "to_markdown", to_markdown)
    monkeypatch.setattr(html, "render", report)
    results = {"alice": result_with(), "mallory": result_with(), "zoe": result_with()}
    written = write_outputs(tmp_path, results, outputs_args(), [])
    assert {"grades.csv", "report.html", "canvas.csv"} <= set(written)
    assert [r["student_id"] for r in read_csv(tmp_path / "grades.csv")] == ["alice", "mallory", "zoe"]
    assert "mallory" in (tmp_path / "report.html").read_text() and "zoe" in (tmp_path / "report.html").read_text()
    for student_id in results:
        assert (tmp_path / "feedback" / f"{student_id}.md").read_text().startswith("# Broker Lab: feedback for")
    assert "could not be written out" in (tmp_path / "feedback" / "mallory.md").read_text()
    assert "could not be drawn" in (tmp_path / "report.html").read_text()


HOSTILE_IDS = ["x" * 300, "Zoë Ångström 😀", "two\nlines", "a/b", "..", "../../escape", "-rf", ".hidden",
               "=1+1", "Alice", "alice", "é" * 200, "con", " "]


def test_any_student_id_gets_its_own_safe_feedback_file(tmp_path):
    results = {i: result_with() for i in HOSTILE_IDS}
    write_outputs(tmp_path, results, outputs_args(), [])
    files = sorted(p.name for p in (tmp_path / "feedback").iterdir())
    assert len(files) == len(HOSTILE_IDS)  # one each: none overwrote another, none went elsewhere
    assert len({f.casefold() for f in files}) == len(files)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["canvas.csv", "feedback", "grades.csv", "report.html"]
    assert not list(tmp_path.parent.glob("escape*"))
    for name in files:
        assert len(name.encode()) <= 120 and not name.startswith((".", "-")), name
        assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._@+-]*\.md", name), name
    assert (tmp_path / "feedback" / "Alice.md").exists() is False  # Alice and alice differ only in case


def test_hidden_or_control_character_ids_are_refused_at_intake_with_a_reason(tmp_path):
    source = tmp_path / "class"
    for name in (".sneaky", "line\nbreak", "esc\x1b[2J", "-rf", "=1+1", "ok"):
        (source / name).mkdir(parents=True)
    for junk in (".git", "__MACOSX", ".ipynb_checkpoints"):
        (source / junk).mkdir()
    (source / ".DS_Store").write_bytes(b"\0")
    klass = find_students(source, tmp_path / "unpack")
    by_id = klass.by_id()
    assert set(by_id) == {".sneaky", "line\nbreak", "esc\x1b[2J", "-rf", "=1+1", "ok"}
    for refused in (".sneaky", "line\nbreak", "esc\x1b[2J"):
        assert by_id[refused].path is None and by_id[refused].refused
    for kept in ("-rf", "=1+1", "ok"):
        assert by_id[kept].refused is None


# -- the whole command, attacked from outside ------------------------------------------------------

def test_a_hostile_class_archive_still_gives_every_student_a_row_and_every_output(tmp_path):
    archive = tmp_path / "class.zip"
    deep = "bob/" + "a/" * 1500  # short of PATH_MAX, past Python's recursion limit (Path.mkdir, rmtree)
    with zipfile.ZipFile(archive, "w") as zf:
        for name in ("sqs_producer.py", "sqs_consumer.py", "payment_handler.py"):
            zf.write(SOLUTIONS / name, f"alice/{name}")
        zf.writestr("bob/sqs_producer.py", "def create_queue(*a):\n    return 'x'\n")
        zf.writestr(deep + "notes.txt", "deep")
        zf.writestr("=SUM(1+1)*cmd|'calc'!A0/sqs_producer.py", "x = 1\n")
        zf.writestr(".sneaky/sqs_producer.py", "x = 1\n")
        zf.writestr("line\nbreak/sqs_producer.py", "x = 1\n")
        zf.writestr("esc\x1b]0;owned\x07/sqs_producer.py", "x = 1\n")
    out = tmp_path / "out"
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "grader", "grade-all", str(archive), "--out", str(out),
                           "--jobs", "2", "--lms", "canvas", "--quiet"],
                          capture_output=True, text=True, cwd=ROOT, timeout=900, env=env)
    assert done.returncode == 0, done.stderr
    assert "\x1b" not in done.stdout and "\x1b" not in done.stderr
    ids = ["alice", "bob", "=SUM(1+1)*cmd|'calc'!A0", ".sneaky", "line\nbreak", "esc\x1b]0;owned\x07"]
    rows = {r["student_id"]: r for r in read_csv(out / "grades.csv")}
    assert len(rows) == len(ids) and rows["alice"]["total"] == "100"
    assert "'=SUM(1+1)*cmd|'calc'!A0" in rows  # neutralised
    for refused in (".sneaky", "line\nbreak", "esc\x1b]0;owned\x07"):
        assert rows[refused]["status"] == "unreadable"
    assert done.stdout.count("Refused at intake: ") == 3 and "esc\\x1b]0;owned\\x07" in done.stdout
    for name in ("results.jsonl", "report.html", "canvas.csv"):
        assert (out / name).is_file(), name
    assert len(list((out / "feedback").iterdir())) == len(ids)
    assert "nested more than" in done.stderr  # the deep folder was not unpacked
    assert not list(tmp_path.glob(f"{command.UNPACK_PREFIX}*"))  # the unpacked class is gone


def test_a_pool_that_fails_to_start_leaves_nothing_behind(monkeypatch, tmp_path):
    """A class run that cannot start keeps neither moto's patching nor its temporary folder."""
    import tempfile

    from grader.bulk import pool as engine
    from grader.harness import broker

    def failing_warm_up() -> None:
        broker.keep_mock()
        raise RuntimeError("warm-up failed")

    from grader.grade import Grader

    closed = []
    close = Grader.close
    monkeypatch.setattr(Grader, "close", lambda self: closed.append(self.zygote) or close(self))
    monkeypatch.setattr(engine, "warm_up", failing_warm_up)
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with pytest.raises(RuntimeError, match="warm-up failed"):
        with engine.Pool(jobs=1, rabbitmq=False):
            pass
    assert broker._kept_mock is None
    assert not list(tmp_path.glob(f"{engine.TMP_PREFIX}*"))
    assert len(closed) == 1 and closed[0].process.poll() is not None, "the pool's zygote must be stopped"


def zip_of_solutions(path: Path) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name in ("sqs_producer.py", "sqs_consumer.py", "payment_handler.py"):
            zf.write(SOLUTIONS / name, name)
    return path


def encrypted(path: Path, first: int = 0) -> Path:
    """The zip with every entry from the ``first`` on flagged as encrypted (zipfile then raises
    RuntimeError reading it)."""
    data = bytearray(path.read_bytes())
    for signature, flags in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        at, n = data.find(signature), 0
        while at != -1:
            if n >= first:
                data[at + flags] |= 1
            at, n = data.find(signature, at + 4), n + 1
    path.write_bytes(bytes(data))
    return path


def grade_all(klass: Path, out: Path, tmp_path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "grader", "grade-all", str(klass), "--out", str(out), "--quiet"],
                          capture_output=True, text=True, cwd=ROOT, timeout=900,
                          env={**os.environ, "TMPDIR": str(tmp_path)})


def corrupt_deflate(path: Path) -> Path:
    """The zip with each entry's compressed data starting with an invalid block (a zlib.error)."""
    data = bytearray(path.read_bytes())
    at = data.find(b"PK\x03\x04")
    while at != -1:
        start = at + 30 + int.from_bytes(data[at + 26:at + 28], "little") + int.from_bytes(data[at + 28:at + 30], "little")
        data[start:start + 2] = b"\xff\xff"
        at = data.find(b"PK\x03\x04", start)
    path.write_bytes(bytes(data))
    return path


def test_a_zip_zipfile_cannot_decode_is_its_students_unreadable_row(tmp_path):
    """An encrypted zip and one whose data cannot be inflated: one line for `grade`, an
    unreadable row for each in `grade-all`, and the class graded around them, also when such a
    zip comes inside the class archive."""
    klass = tmp_path / "class"
    (klass / "alice").mkdir(parents=True)
    for name in ("sqs_producer.py", "sqs_consumer.py", "payment_handler.py"):
        (klass / "alice" / name).write_bytes((SOLUTIONS / name).read_bytes())
    eve = encrypted(zip_of_solutions(klass / "eve.zip"))
    zed = corrupt_deflate(zip_of_solutions(klass / "zed.zip"))
    for bad, says in ((eve, "encrypted"), (zed, "decompressing")):
        done = subprocess.run([sys.executable, "-m", "grader", "grade", str(bad)], capture_output=True, text=True,
                              cwd=ROOT, timeout=300)
        lines = done.stderr.strip().splitlines()
        assert done.returncode not in (0, 70) and len(lines) == 1 and says in lines[0], done.stderr
        assert "internal error" not in done.stderr and "Traceback" not in done.stderr
    out = tmp_path / "out"
    done = grade_all(klass, out, tmp_path)
    assert done.returncode == 0, done.stderr
    rows = {r["student_id"]: r for r in read_csv(out / "grades.csv")}
    assert rows["alice"]["total"] == "100" and rows["alice"]["status"] == "ok"
    assert rows["eve"]["status"] == rows["zed"]["status"] == "unreadable"

    archive = tmp_path / "class.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(SOLUTIONS / "sqs_producer.py", "alice/sqs_producer.py")
        zf.write(SOLUTIONS / "sqs_producer.py", "eve/sqs_producer.py")
    encrypted(archive, first=1)  # only eve's entry
    refused: dict[str, str] = {}
    unpacked = unpack_class(archive, tmp_path / "unpacked", refused, [])
    assert (unpacked / "alice" / "sqs_producer.py").is_file()
    assert list(refused) == ["eve"] and "cannot be unpacked" in refused["eve"]
    assert not (unpacked / "eve").exists()


def test_a_students_notebooks_never_decide_how_the_class_is_read(tmp_path):
    """Notebooks named like this course's, in subfolders of one student's folder (beside their
    files, or alone), leave the class a class of folders: every student gets a row."""
    klass = tmp_path / "class"
    for student in ("alice", "mallory"):
        (klass / student).mkdir(parents=True)
        for name in ("sqs_producer.py", "sqs_consumer.py", "payment_handler.py"):
            (klass / student / name).write_bytes((SOLUTIONS / name).read_bytes())
    for sub in ("notes", "notes2"):
        (klass / "mallory" / sub).mkdir()
        (klass / "mallory" / sub / "sqs_producer.ipynb").write_text("{}")
    (klass / "trudy" / "ps1").mkdir(parents=True)
    (klass / "trudy" / "ps1" / "sqs_producer.ipynb").write_text("{}")
    assert find_nbgrader_students(klass) is None
    out = tmp_path / "out"
    done = grade_all(klass, out, tmp_path)
    assert done.returncode == 0, done.stderr
    rows = {r["student_id"]: r for r in read_csv(out / "grades.csv")}
    assert sorted(rows) == ["alice", "mallory", "trudy"]
    assert rows["alice"]["total"] == rows["mallory"]["total"] == "100"
