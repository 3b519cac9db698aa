"""Students' nbgrader notebooks as ``Submission``s, so ``brokerlab`` grades what nbgrader grades.

An exercise's code is the body of its ``%%brokerlab <file>`` answer cell in its own notebook (the
last one, as in the kernel, where the last run wins); the quiz answers are the ``%%brokerlab
answers.yaml`` cells and the written (manually graded) answers of the quiz notebook, turned into
answers.yaml. Nothing is run here, and notebooks are read as plain JSON, so bulk grading needs
neither nbformat nor nbgrader.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from grader.errors import UserError
from grader.integrations.nbgrader.cells import (QUIZ_NOTEBOOK, AnswerCellError, code_of, grade_id, make_submission,
                                                notebook_name, read_answer, split_cell, written_answer)
from grader.paths import ANSWERS_FILE, EXERCISE_FILES
from grader.submission import MAX_FILE_BYTES, Submission, wanted_names

NOTEBOOKS = {notebook_name(exercise): name for exercise, name in EXERCISE_FILES.items()}
MAX_NOTEBOOK_BYTES = 16 * MAX_FILE_BYTES


def _free_response_ids() -> dict[str, tuple[str, str]]:
    """grade_id of each written-answer cell -> (quiz, question)."""
    from grader.quiz.loader import load_bank

    return {grade_id(quiz.id, q.id, "answer"): (quiz.id, q.id)
            for quiz in load_bank().values() for q in quiz.questions if q.type == "free_response"}


def _cells(path: Path) -> list[dict[str, Any]]:
    """The cells of a notebook file (nbformat 4), each with its source as one string."""
    if path.stat().st_size > MAX_NOTEBOOK_BYTES:
        raise ValueError(f"larger than {MAX_NOTEBOOK_BYTES // 2**20} MiB")
    data = json.loads(path.read_bytes().decode("utf-8"))
    cells = data.get("cells") if isinstance(data, dict) else None
    if not isinstance(cells, list):
        raise ValueError("no list of cells (not an nbformat 4 notebook)")
    out = []
    for cell in cells:
        if not isinstance(cell, dict):
            continue
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else source
        metadata = cell.get("metadata") if isinstance(cell.get("metadata"), dict) else {}
        out.append({"cell_type": cell.get("cell_type"), "source": source if isinstance(source, str) else "",
                    "metadata": metadata})
    return out


def read_notebooks(folder: Path, student_id: str, *, quizzes: bool | None = None,
                   written: dict[str, tuple[str, str]] | None = None) -> Submission:
    """One student's assignment folder of notebooks as a submission.

    ``quizzes``: whether the assignment has the quiz notebook (None: if this folder holds it). When
    it has, every quiz of the bank is in answers.yaml, answered or not, so the quiz points count
    in full even for a student who left them all out.
    """
    from grader.quiz.loader import load_bank

    written = _free_response_ids() if written is None else written
    files: dict[str, str] = {}
    answers: dict[tuple[str, str], Any] = {}
    notes: list[str] = []
    # Each notebook runs in a kernel of its own, so a cell only counts in the notebook it belongs to.
    for name in [*NOTEBOOKS, QUIZ_NOTEBOOK]:
        path = folder / name
        if not path.is_file() or path.is_symlink():
            continue
        try:
            cells = _cells(path)
        except (OSError, ValueError) as exc:
            notes.append(f"{name}: not a readable notebook ({exc}); nothing in it was graded")
            continue
        for cell in cells:
            if cell["cell_type"] == "code":
                split = split_cell(cell["source"])
                if split is None:
                    continue
                target, body = split
                if target.quiz is None:
                    if NOTEBOOKS.get(name) == target.file:
                        files[target.file] = code_of(body)
                elif name == QUIZ_NOTEBOOK:
                    key = (target.quiz, target.question)
                    try:
                        answers[key] = read_answer(body)  # type: ignore[index]
                    except AnswerCellError as exc:
                        answers[key] = None  # type: ignore[index]
                        notes.append(f"{name}: {target.quiz} {target.question}: {exc}")
            elif cell["cell_type"] == "markdown" and name == QUIZ_NOTEBOOK:
                nbgrader = cell["metadata"].get("nbgrader")
                key = written.get(nbgrader.get("grade_id", "")) if isinstance(nbgrader, dict) else None
                if key is not None:
                    answers[key] = written_answer(cell["source"])
    if quizzes is None:
        quizzes = (folder / QUIZ_NOTEBOOK).is_file()
    answers_file = None
    if quizzes:
        answers_file = {quiz_id: {} for quiz_id in load_bank()}
        for (quiz_id, question), value in answers.items():
            if value is not None:
                answers_file.setdefault(quiz_id, {})[question] = value
    submission = make_submission(student_id, files, answers_file, notes)
    for exercise, name in EXERCISE_FILES.items():
        if name not in files:
            notebook = notebook_name(exercise)
            submission.problems[exercise] = (
                f"{notebook} has no answer cell starting with %%brokerlab {name}"
                if (folder / notebook).is_file() else f"{notebook} is missing from the submission")
    return submission


def _children(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir()
                  if p.is_dir() and not p.is_symlink() and not p.name.startswith((".", "__")))


def _holds_our_notebooks(folder: Path) -> bool:
    return any((folder / name).is_file() for name in [*NOTEBOOKS, QUIZ_NOTEBOOK])


def _submitted_root(source: Path) -> Path | None:
    """The folder of student folders in an nbgrader course, or None if ``source`` is not one.

    A course says so itself: its markers beside ``submitted/`` (given the course, or its
    ``submitted/`` or ``autograded/``). A bare tree is nbgrader's only when some student folder is
    laid out as ``<student>/<assignment>/`` with this course's notebooks and none of its entries is
    a plain submission (a zip, or a folder holding one of the contract's files): what one student
    hands in, notebooks in subfolders included, never decides how the rest of the class is read.
    """
    if not source.is_dir():
        return None
    course_markers = ("nbgrader_config.py", "gradebook.db", "source", "release")
    if (source / "submitted").is_dir() and any((source / m).exists() for m in course_markers):
        return source / "submitted"
    if source.name in ("submitted", "autograded") and any((source.parent / m).exists() for m in course_markers[:2]):
        return source
    students = _children(source)
    if not any(_holds_our_notebooks(a) for s in students for a in _children(s)):
        return None
    if any(p.suffix.lower() == ".zip" for p in source.iterdir()) or any(wanted_names(s) != frozenset() for s in students):
        return None
    return source


def find_nbgrader_students(source: Path, assignment: str | None = None) -> dict[str, Submission] | None:
    """Each student's submission of one assignment, by nbgrader student id; None if not nbgrader's.

    ``source`` is an nbgrader course folder (its ``submitted/`` is read) or a tree laid out like
    ``submitted/<student>/<assignment>/*.ipynb`` (``submitted/``, ``autograded/``). With several
    assignments in the tree, ``assignment`` names the one to grade (a UserError otherwise).
    Students without that assignment are left out.
    """
    root = _submitted_root(source)
    if root is None:
        return None
    students = _children(root)
    found = sorted({a.name for s in students for a in _children(s) if _holds_our_notebooks(a)})
    if assignment is None:
        if len(found) > 1:
            raise UserError(f"{root} holds the assignments {', '.join(found)}: name the one to grade")
        if not found:
            return {}
        assignment = found[0]
    elif assignment not in found:
        known = f"; it holds {', '.join(found)}" if found else ""
        raise UserError(f"{root} holds no submission of assignment {assignment!r}{known}")
    course = root.parent
    quizzes = any((course / kind / assignment / QUIZ_NOTEBOOK).is_file() for kind in ("source", "release")) \
        or any((s / assignment / QUIZ_NOTEBOOK).is_file() for s in students)
    written = _free_response_ids()
    return {s.name: read_notebooks(s / assignment, s.name, quizzes=quizzes, written=written)
            for s in students if (s / assignment).is_dir()}


def write_submission(submission: Submission, folder: Path) -> None:
    """The submission as files ``brokerlab grade`` reads: the exercise files and answers.yaml."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in (*EXERCISE_FILES.values(), ANSWERS_FILE):
        if name in submission.sources:
            (folder / name).write_bytes(submission.sources[name])


def write_students(source: Path, into: Path, assignment: str | None = None) -> Path | None:
    """For graders that take a folder of submission folders: ``into``/<student>/ for each student.

    Returns ``into``, or None when ``source`` is not an nbgrader course or tree (grade it as it is).
    """
    students = find_nbgrader_students(source, assignment)
    if students is None:
        return None
    into.mkdir(parents=True, exist_ok=True)
    for student_id, submission in students.items():
        write_submission(submission, into / student_id)
    return into
