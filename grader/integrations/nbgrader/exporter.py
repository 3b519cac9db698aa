"""nbgrader's gradebook as a CSV that Canvas's gradebook import takes.

    nbgrader export --exporter=grader.integrations.nbgrader.exporter.CanvasCsvExportPlugin --to canvas.csv

Canvas matches students by its own columns ``Student, ID, SIS User ID, SIS Login ID, Section``
and an assignment column by its name ``<name> (<Canvas assignment id>)``, as its own gradebook
export writes it; a column without its id is not the assignment's (Canvas makes a new one). So
each exported assignment needs its Canvas id, from the course's nbgrader_config.py:

    c.CanvasCsvExportPlugin.canvas_assignment_ids = {"week5": 12345}

The ``Points Possible`` row sets the points. The nbgrader student id goes in ``SIS Login ID``,
which is what institutions usually make the login; the Canvas ids are left empty for Canvas to
match. Like nbgrader's own CSV, a student with no submission scores 0, and a late penalty is
taken off.
"""
from __future__ import annotations

import csv
from typing import Any

from nbgrader.api import MissingEntry
from nbgrader.plugins.export import ExportPlugin
from traitlets import Dict, Int, Unicode

COLUMNS = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
POINTS_POSSIBLE = "    Points Possible"  # Canvas writes this row so, leading spaces included
DEFAULT_FILE = "canvas_grades.csv"


def points(value: float | None) -> str:
    """A score as Canvas shows it: up to four decimals, no trailing zeros."""
    if value is None:
        return ""
    return f"{value:.4f}".rstrip("0").rstrip(".")


def display_name(student: Any) -> str:
    """'Last, First' as Canvas lists students; the id when nbgrader knows no name."""
    last, first = (student.last_name or "").strip(), (student.first_name or "").strip()
    if last and first:
        return f"{last}, {first}"
    return last or first or student.id


class CanvasAssignmentIdMissing(ValueError):
    """An exported assignment has no Canvas id configured; the message says how to give it."""


class CanvasCsvExportPlugin(ExportPlugin):
    """Write the gradebook as a Canvas gradebook-import CSV (``--to``, default canvas_grades.csv)."""

    canvas_assignment_ids = Dict(key_trait=Unicode(), value_trait=Int(), help=(
        "The Canvas id of each nbgrader assignment (the number in the assignment's Canvas URL), "
        'e.g. {"week5": 12345}: its column is then "week5 (12345)", which Canvas\'s import matches.')
    ).tag(config=True)

    def column(self, assignment: str) -> str:
        """The assignment's score column as Canvas names it: ``<name> (<id>)``."""
        if assignment not in self.canvas_assignment_ids:
            raise CanvasAssignmentIdMissing(
                f"assignment {assignment!r} has no Canvas assignment id, so Canvas's import would not match its "
                f"column; add it to nbgrader_config.py: c.CanvasCsvExportPlugin.canvas_assignment_ids = "
                f"{{{assignment!r}: <id>}} (the number in the assignment's Canvas URL), or export other assignments "
                "with --assignment")
        return f"{assignment} ({self.canvas_assignment_ids[assignment]})"

    def export(self, gradebook: Any) -> None:
        dest = self.to or DEFAULT_FILE
        wanted_assignments = {str(a) for a in self.assignment}
        wanted_students = {str(s) for s in self.student}
        assignments = [a for a in gradebook.assignments if not wanted_assignments or a.name in wanted_assignments]
        students = [s for s in gradebook.students if not wanted_students or s.id in wanted_students]
        columns = [self.column(a.name) for a in assignments]
        self.log.info("Exporting grades for Canvas to %s", dest)
        rows = [COLUMNS + columns,
                [POINTS_POSSIBLE, "", "", "", ""] + [points(a.max_score) for a in assignments]]
        pending: list[str] = []
        for student in students:
            row = [display_name(student), "", "", student.id, ""]
            for assignment in assignments:
                try:
                    submission = gradebook.find_submission(assignment.name, student.id)
                except MissingEntry:
                    row.append(points(0.0))
                    continue
                if submission.needs_manual_grade:
                    pending.append(f"{student.id}/{assignment.name}")
                penalty = submission.late_submission_penalty or 0.0
                row.append(points(max(0.0, (submission.score or 0.0) - penalty)))
            rows.append(row)
        if pending:
            self.log.warning("Still waiting for manual grading (exported without those points): %s",
                             ", ".join(pending))
        with open(dest, "w", newline="", encoding="utf-8") as handle:
            csv.writer(handle).writerows(rows)
