"""nbgrader's gradebook as a CSV that Canvas's gradebook import takes.

    nbgrader export --exporter=grader.integrations.nbgrader.exporter.CanvasCsvExportPlugin --to canvas.csv

Canvas matches students by its own columns ``Student, ID, SIS User ID, SIS Login ID, Section``
and takes every further column as an assignment (created on import if new), with the
``Points Possible`` row setting its points. The nbgrader student id goes in ``SIS Login ID``,
which is what institutions usually make the login; the Canvas ids are left empty for Canvas to
match. Like nbgrader's own CSV, a student with no submission scores 0, and a late penalty is
taken off.
"""
from __future__ import annotations

import csv
from typing import Any

from nbgrader.api import MissingEntry
from nbgrader.plugins.export import ExportPlugin

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


class CanvasCsvExportPlugin(ExportPlugin):
    """Write the gradebook as a Canvas gradebook-import CSV (``--to``, default canvas_grades.csv)."""

    def export(self, gradebook: Any) -> None:
        dest = self.to or DEFAULT_FILE
        wanted_assignments = {str(a) for a in self.assignment}
        wanted_students = {str(s) for s in self.student}
        assignments = [a for a in gradebook.assignments if not wanted_assignments or a.name in wanted_assignments]
        students = [s for s in gradebook.students if not wanted_students or s.id in wanted_students]
        self.log.info("Exporting grades for Canvas to %s", dest)
        rows = [COLUMNS + [a.name for a in assignments],
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
