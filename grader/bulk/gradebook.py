"""The class gradebook: ``grades.csv``, and the same scores as a Canvas gradebook import.

Columns: ``student_id``, one per exercise (``producer``, ``consumer``, ``payment``), one per
quiz with points in the students' results (every result holds every quiz of the bank; sorted by
id), ``total``, ``max_total``, ``status``. Rows are sorted by student id and numbers are written
the same way every time (``85``, ``12.5``), so the same results always give the same bytes.

``max_total`` is the class's full maximum: the sum of each column's maximum over the class, which
is the assignment's maximum, the ``max_score`` of every result. An unreadable or timed-out
submission is graded as all-zero against every exercise's and quiz's tests, and a student who left
a quiz out has it at 0 in its column, so every row is out of the same total.
``total`` is the student's own ``score``, exactly as grading that student alone gives it.

Both files are opened in spreadsheets, and a student id is whatever a folder was called: every
cell that would start a formula (``=``, ``+``, ``-``, ``@``, a tab, a line break) gets a leading
``'``, while numbers stay numbers.
"""
from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Mapping

from grader.paths import EXERCISE_FILES
from grader.render.safe import csv_cell
from grader.results import SubmissionResult

CODE_COLUMNS = tuple(EXERCISE_FILES)
GRADES_FILE = "grades.csv"
CANVAS_FILE = "canvas.csv"
CANVAS_FIXED = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
CANVAS_ID_FIELDS = ("SIS Login ID", "SIS User ID", "ID")


def number(x: float) -> str:
    """A score as the gradebook writes it: no float noise, no trailing zeros, never '-0'."""
    x = round(float(x), 4)
    if x == 0:
        return "0"
    return format(x, ".12g")


def columns(results: Mapping[str, SubmissionResult]) -> list[str]:
    """The score columns: the exercises, then every quiz with points that any student has, sorted."""
    quizzes = {key for r in results.values() for key, ex in r.exercises.items()
               if key not in CODE_COLUMNS and ex.kind == "quiz" and ex.max_score > 0}
    return [*CODE_COLUMNS, *sorted(quizzes)]


def column_maxima(results: Mapping[str, SubmissionResult], cols: list[str]) -> dict[str, float]:
    maxima = {c: 0.0 for c in cols}
    for result in results.values():
        for c in cols:
            exercise = result.exercises.get(c)
            if exercise is not None:
                maxima[c] = max(maxima[c], exercise.max_score)
    return maxima


def full_max(results: Mapping[str, SubmissionResult]) -> float:
    cols = columns(results)
    return round(sum(column_maxima(results, cols).values()), 4)


def grade_rows(results: Mapping[str, SubmissionResult]) -> tuple[list[str], list[list[str]]]:
    """The header and the rows of grades.csv, sorted by student id."""
    cols = columns(results)
    max_total = number(sum(column_maxima(results, cols).values()))
    header = ["student_id", *cols, "total", "max_total", "status"]
    rows = []
    for student_id in sorted(results):
        result = results[student_id]
        scores = [number(result.exercises[c].score) if c in result.exercises else "0" for c in cols]
        rows.append([student_id, *scores, number(result.score), max_total, result.status])
    return header, rows


def _csv(rows: list[list[str]]) -> bytes:
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerows([csv_cell(str(cell)) for cell in row] for row in rows)
    return out.getvalue().encode("utf-8")


def grades_csv(results: Mapping[str, SubmissionResult]) -> bytes:
    header, rows = grade_rows(results)
    return _csv([header, *rows])


def canvas_csv(results: Mapping[str, SubmissionResult], assignment: str = "Broker Lab",
               assignment_id: str | None = None, id_field: str = "SIS Login ID") -> bytes:
    """A Canvas gradebook import: the five fixed columns, one assignment column, a Points Possible row.

    Canvas matches a row to a student by ``ID`` (its own user id), ``SIS User ID`` or ``SIS Login ID``;
    the student id goes in ``id_field`` (and in ``Student``, which Canvas shows but does not match on
    when an id is given). An assignment named with its Canvas id, ``Broker Lab (12345)``, updates that
    assignment; a new name creates one with the Points Possible given here.
    """
    if id_field not in CANVAS_ID_FIELDS:
        raise ValueError(f"id_field must be one of {', '.join(CANVAS_ID_FIELDS)}")
    title = f"{assignment} ({assignment_id})" if assignment_id else assignment
    header = [*CANVAS_FIXED, title]
    possible = ["    Points Possible", "", "", "", "", number(full_max(results))]
    rows = [header, possible]
    for student_id in sorted(results):
        row = [student_id, "", "", "", "", number(results[student_id].score)]
        row[CANVAS_FIXED.index(id_field)] = student_id
        rows.append(row)
    return _csv(rows)


def write(path: Path, data: bytes) -> None:
    from grader.bulk.store import write_atomic

    write_atomic(path, data)
