"""nbgrader verdicts come from the sandbox: ``brokerlab nbgrader autograde`` and the notebooks' visible checks.

End to end with the real nbgrader, on one course made by ``brokerlab nbgrader init``: a finished
student, a "mixed" one (a bug, an untouched exercise, partial credit, a deleted test cell), a
hostile one, who handed in the untouched stub plus one cell that patches what the test cells call
in the kernel, and a forger whose added cell claims to be a test. The helpers are test_nbgrader's.
"""
from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Iterator

import nbformat
import pytest
from nbgrader.api import Gradebook

from grader.cli import main as brokerlab_main
from grader.integrations.nbgrader.autograde import SandboxVerdicts
from grader.integrations.nbgrader.cells import QUIZ_NOTEBOOK, grade_id
from grader.integrations.nbgrader.notebooks import solved
from grader.results import Status
from test_nbgrader import (ASSIGNMENT, AUTO_QUIZ_POINTS, CODE_POINTS, EXPORTER, FREE, QUIZ_POINTS, _brokerlab_cells,
                           _jupyter_env, _mixed, _nbgrader, _nbgrader_cells, _run, _write_student)

PATCH = ("import grader.integrations.nbgrader.runtime as runtime\n"
         "runtime.run_hidden = lambda exercise, test: print('Passed')\n"
         "runtime.grade_answer = lambda quiz, question: None\n")
DELETED = grade_id("payment", "reply_lost_after_charge")


def _hostile(released: dict[str, Any]) -> dict[str, Any]:
    """The released stubs, each with one added cell (after the setup cell) that makes every test cell pass."""
    notebooks = {name: nbformat.from_dict(json.loads(json.dumps(nb))) for name, nb in released.items()}
    for notebook in notebooks.values():
        notebook.cells.insert(2, nbformat.v4.new_code_cell(PATCH))
    return notebooks


def _forged(released: dict[str, Any]) -> dict[str, Any]:
    """The released stubs plus a cell of the student's own that claims to be a 100-point test."""
    notebooks = {name: nbformat.from_dict(json.loads(json.dumps(nb))) for name, nb in released.items()}
    cell = nbformat.v4.new_code_cell("print('all good')")
    cell.metadata["nbgrader"] = {"grade": True, "grade_id": "bonus", "locked": True, "points": 100,
                                 "schema_version": 3, "solution": False}
    notebooks["sqs_producer.ipynb"].cells.insert(3, cell)
    return notebooks


def _without_cell(notebooks: dict[str, Any], cell_id: str) -> dict[str, Any]:
    for notebook in notebooks.values():
        notebook.cells = [c for c in notebook.cells if c.metadata.get("nbgrader", {}).get("grade_id") != cell_id]
    return notebooks


def _brokerlab(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return _run([sys.executable, "-m", "grader", *args], cwd, env)


@pytest.fixture(scope="module")
def course(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimpleNamespace]:
    """The course after nbgrader's in-kernel autograde of the hostile student, then brokerlab's of everyone."""
    folder = tmp_path_factory.mktemp("nbgrader-sandbox")
    env = _jupyter_env(folder)
    course = folder / "course"
    _brokerlab("nbgrader", "init", str(course), "--assignment", ASSIGNMENT, cwd=folder, env=env)
    _nbgrader("generate_assignment", ASSIGNMENT, "--force", course=course, env=env)
    source = {p.name: nbformat.read(p, as_version=4) for p in (course / "source" / ASSIGNMENT).glob("*.ipynb")}
    released = {p.name: nbformat.read(p, as_version=4) for p in (course / "release" / ASSIGNMENT).glob("*.ipynb")}
    finished = {name: solved(nb, source[name]) for name, nb in released.items()}
    students = {"finished": finished, "hostile": _hostile(released), "forger": _forged(released),
                "mixed": _without_cell(_mixed(released, finished), DELETED)}
    for student, notebooks in students.items():
        _write_student(course / "submitted", student, notebooks)
    db = f"sqlite:///{course / 'gradebook.db'}"
    _nbgrader("autograde", ASSIGNMENT, "--student", "hostile", course=course, env=env)
    in_kernel = _nbgrader_cells(db, "hostile")
    done = _brokerlab("nbgrader", "autograde", str(course), "--force", cwd=folder, env=env)
    yield SimpleNamespace(path=course, env=env, folder=folder, db=db, in_kernel=in_kernel, stdout=done.stdout)


def _total(cells: dict[str, tuple[float | None, float]]) -> float:
    return sum(score or 0 for score, _ in cells.values())


def test_the_hostile_cell_gets_nothing_from_the_sandbox(course, grader):
    assert _total(course.in_kernel) == CODE_POINTS + AUTO_QUIZ_POINTS  # nbgrader's own autograde is fooled
    out = course.folder / "extracted"
    _brokerlab("nbgrader", "extract", str(course.path), str(out), cwd=course.folder, env=course.env)
    ours = _brokerlab_cells(grader.grade(out / "hostile"))
    theirs = _nbgrader_cells(course.db, "hostile")
    assert set(theirs) == set(ours)
    for cell, (auto_score, _) in theirs.items():
        assert auto_score == ours[cell][0] or (auto_score is None and ours[cell][2] is Status.NEEDS_GRADING), cell
    assert _total(theirs) == 0
    autograded = nbformat.read(course.path / "autograded" / "hostile" / ASSIGNMENT / "sqs_producer.ipynb", 4)
    assert autograded.cells[2].source == PATCH and autograded.cells[2].outputs == []  # kept, never run
    tests = [c for c in autograded.cells if c.metadata.get("nbgrader", {}).get("grade")]
    assert tests and all(c.outputs[0].output_type == "error" and "NotImplementedError" in c.outputs[0].evalue
                         for c in tests)


def test_a_cell_posing_as_a_test_grades_nothing(course):
    """nbgrader's own autograde stops on such a cell, leaving the student ungraded; here it is a plain cell."""
    cells = _nbgrader_cells(course.db, "forger")
    assert "bonus" not in cells and _total(cells) == 0
    autograded = nbformat.read(course.path / "autograded" / "forger" / ASSIGNMENT / "sqs_producer.ipynb", 4)
    assert "nbgrader" not in autograded.cells[3].metadata and autograded.cells[3].outputs == []


def test_the_gradebook_holds_brokerlabs_verdict_for_every_cell(course, grader):
    from grader.integrations.nbgrader.submitted import find_nbgrader_students

    students = find_nbgrader_students(course.path)
    assert students is not None
    for student in ("finished", "mixed"):
        ours = _brokerlab_cells(grader.grade_submission(students[student]))
        theirs = _nbgrader_cells(course.db, student)
        assert set(theirs) == set(ours), student
        for cell, (auto_score, max_score) in theirs.items():
            score, our_max, status = ours[cell]
            assert our_max == max_score, (student, cell)
            if auto_score is None:
                assert status is Status.NEEDS_GRADING, (student, cell)
            else:
                assert auto_score == pytest.approx(score, abs=1e-4), (student, cell, status)
    mixed = _nbgrader_cells(course.db, "mixed")
    assert 0 < mixed["concepts_q1_test"][0] < mixed["concepts_q1_test"][1]  # partial credit
    assert mixed[DELETED][0] == mixed[DELETED][1]  # a deleted test cell still gets its verdict
    assert f"finished: {CODE_POINTS + AUTO_QUIZ_POINTS:g} of {CODE_POINTS + QUIZ_POINTS:g} points" in course.stdout


def test_the_finished_student_gets_full_marks_in_the_gradebook_and_export(course):
    with Gradebook(course.db) as gradebook:
        for quiz_id, question in FREE:
            grade = gradebook.find_grade(grade_id(quiz_id, question, "answer"), QUIZ_NOTEBOOK.removesuffix(".ipynb"),
                                         ASSIGNMENT, "finished")
            grade.manual_score = grade.max_score
        gradebook.db.commit()
        submission = gradebook.find_submission(ASSIGNMENT, "finished")
        assert submission.score == submission.max_score == CODE_POINTS + QUIZ_POINTS
        comments = {c.name: c.comment for nb in submission.notebooks for c in nb.comments}
    assert comments[grade_id("producer", "answer")] == "Graded by brokerlab in its sandbox: 25 of 25 points."
    _nbgrader("export", course=course.path, env=course.env)
    grades = {row["student_id"]: row for row in csv.DictReader((course.path / "grades.csv").open())}
    assert float(grades["finished"]["score"]) == float(grades["finished"]["max_score"]) == CODE_POINTS + QUIZ_POINTS
    assert float(grades["hostile"]["score"]) == 0
    _nbgrader("export", f"--exporter={EXPORTER}", "--to", "canvas.csv",
              "--CanvasCsvExportPlugin.canvas_assignment_ids", f"{ASSIGNMENT}=98765",
              course=course.path, env=course.env)
    rows = list(csv.reader((course.path / "canvas.csv").open(newline="")))
    assert rows[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", f"{ASSIGNMENT} (98765)"]
    scores = {row[3]: float(row[5]) for row in rows[2:]}
    assert scores["finished"] == CODE_POINTS + QUIZ_POINTS and scores["hostile"] == 0


def test_generate_feedback_shows_the_sandboxs_verdicts(course):
    _nbgrader("generate_feedback", ASSIGNMENT, "--force", course=course.path, env=course.env)
    feedback = course.path / "feedback"
    hostile = (feedback / "hostile" / ASSIGNMENT / "sqs_producer.html").read_text()
    finished = (feedback / "finished" / ASSIGNMENT / "sqs_producer.html").read_text()
    assert "HiddenTestFailed" in hostile and "raised NotImplementedError" in hostile
    assert "Passed: 3 of 3 points." in finished and "HiddenTestFailed" not in finished


# ----------------------------------------------------------------------------- the parts, fast

def test_a_test_cell_without_a_verdict_fails():
    found = SandboxVerdicts({}, lambda submission: pytest.fail("nothing to grade"))
    verdict = found.cell("nobody", "sqs_producer", grade_id("producer", "make_task_shape"))
    assert verdict.score == 0 and verdict.outputs[0]["output_type"] == "error"


def test_autograde_refuses_a_folder_that_is_no_course(tmp_path, capsys):
    assert brokerlab_main(["nbgrader", "autograde", str(tmp_path / "missing")]) == 2
    assert "no such course folder" in capsys.readouterr().err
