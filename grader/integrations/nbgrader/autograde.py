"""``brokerlab nbgrader autograde``: nbgrader's autograde with brokerlab's sandbox in place of the kernel.

nbgrader's own ``autograde`` runs each submitted notebook in a Jupyter kernel and reads a test
cell's verdict from its output; the student's own cells run in that kernel first and can patch
whatever the test cells call. Here no cell is ever run. The students' code and answers are read
from their notebooks as ``grade-all`` reads them (``submitted``), graded by ``grader.grade.Grader``,
and nbgrader's own Autograde converter does the rest: it adds the student and the submission to
the gradebook, restores the locked cells, counts missing notebooks as 0, applies late penalties
and writes ``autograded/<student>/<assignment>/``. Cells the student added with nbgrader metadata
of their own lose it (``ForgetUnknownCells``). Only its ``Execute`` step is replaced (by
``SandboxOutputs``, which writes each test cell's output from the sandbox's verdict), and its
``SaveAutoGrades`` step takes each test cell's score from that verdict, never from an output.
The formgrader, ``nbgrader export`` and ``nbgrader generate_feedback`` then show brokerlab's verdicts.
"""
from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from nbconvert.preprocessors import ClearMetadataPreprocessor
from nbformat.notebooknode import NotebookNode
from nbformat.v4 import new_output
from nbgrader import utils
from nbgrader.api import Gradebook
from nbgrader.converters import Autograde
from nbgrader.converters.base import NbGraderException
from nbgrader.coursedir import CourseDirectory
from nbgrader.preprocessors import (AssignLatePenalties, CheckCellMetadata, ClearOutput, DeduplicateIds,
                                    IgnorePattern, LimitOutput, NbGraderPreprocessor, OverwriteCells,
                                    OverwriteKernelspec, SaveAutoGrades)
from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader

from grader.errors import UserError
from grader.integrations.nbgrader.cells import grade_id, notebook_name
from grader.results import Status, SubmissionResult
from grader.submission import Submission

FAILED = "HiddenTestFailed"  # the exception the kernel's test cells raise (runtime.HiddenTestFailed)


@dataclass(frozen=True)
class Verdict:
    """One test cell's result from the sandbox: its points and the output the autograded notebook shows."""

    score: float
    outputs: tuple[dict[str, Any], ...]
    review: bool = False  # a grader error: zero points, flagged for the instructor


@dataclass
class Graded:
    """One student's verdicts by grade cell id, and a line per exercise for its answer cell's comment."""

    cells: dict[str, Verdict] = field(default_factory=dict)
    summaries: dict[str, str] = field(default_factory=dict)  # answer cell id -> comment
    missing: dict[str, Verdict] = field(default_factory=dict)  # notebook -> verdict of its cells without one


def _stdout(text: str) -> dict[str, Any]:
    return new_output("stream", name="stdout", text=text.rstrip("\n") + "\n")


def _error(message: str) -> dict[str, Any]:
    return new_output("error", ename=FAILED, evalue=message, traceback=[f"{FAILED}: {message}"])


def verdicts(result: SubmissionResult) -> Graded:
    """Each grade cell's verdict, as the kernel's ``run_hidden``/``grade_answer`` would have printed it."""
    graded = Graded()
    for key, exercise in result.exercises.items():
        if exercise.kind == "code":
            for test in exercise.tests:
                message = test.feedback or test.status.value
                if test.status is Status.PASSED:
                    outputs = (_stdout(f"Passed: {test.score:g} of {test.max_score:g} points."),)
                else:
                    outputs = (_error(message + (f"\n\nYour code printed:\n{test.output}" if test.output else "")),)
                graded.cells[grade_id(key, test.name)] = Verdict(
                    test.score, outputs, review=test.status is Status.GRADER_ERROR)
            failed = [t.name for t in exercise.tests if t.status is not Status.PASSED]
            summary = f"Graded by brokerlab in its sandbox: {exercise.score:g} of {exercise.max_score:g} points."
            if exercise.feedback:
                summary += f" {exercise.feedback}"
            elif failed:
                summary += f" Not passed: {', '.join(failed)}."
            graded.summaries[grade_id(key, "answer")] = summary
            why = exercise.feedback or f"The grader ran no such test of {key}."
            graded.missing[notebook_name(key).removesuffix(".ipynb")] = Verdict(
                0.0, (_error(why),), review=any(t.status is Status.GRADER_ERROR for t in exercise.tests))
            continue
        for test in exercise.tests:
            question = test.name.split(":", 1)[0]
            if test.status is Status.NEEDS_GRADING:
                continue  # a written answer: a markdown cell nbgrader leaves to a person
            if test.score >= test.max_score:
                outputs = (_stdout(test.feedback or "Correct."),)
            elif test.score > 0:
                outputs = (_stdout(test.feedback), new_output("execute_result", data={"text/plain": repr(test.score)},
                                                              execution_count=None))
            else:
                outputs = (_error(test.feedback or "Not answered."),)
            graded.cells[grade_id(key, question, "test")] = Verdict(test.score, outputs)
    return graded


class SandboxVerdicts:
    """Grades each student once, when nbgrader first reaches one of their notebooks."""

    def __init__(self, submissions: dict[str, Submission], grade: Callable[[Submission], SubmissionResult]) -> None:
        self.submissions, self.grade = submissions, grade
        self.results: dict[str, SubmissionResult] = {}
        self._graded: dict[str, Graded] = {}

    def of(self, student: str) -> Graded:
        if student not in self._graded:
            submission = self.submissions.get(student)
            if submission is None:
                self._graded[student] = Graded()
            else:
                self.results[student] = self.grade(submission)
                self._graded[student] = verdicts(self.results[student])
        return self._graded[student]

    def cell(self, student: str, notebook: str, cell_id: str) -> Verdict:
        """The cell's verdict; a cell the grader has none for fails (nbgrader gives full marks to no output)."""
        graded = self.of(student)
        found = graded.cells.get(cell_id)
        if found is not None:
            return found
        return graded.missing.get(notebook) or Verdict(0.0, (_error(f"The grader ran no test for {cell_id}."),))


class ForgetUnknownCells(NbGraderPreprocessor):
    """A cell with nbgrader metadata that the released notebook did not have becomes a plain cell.

    It was added by the student, so it grades nothing; left as it is, nbgrader's own steps stop on
    it and the student's whole submission goes ungraded.
    """

    def preprocess(self, nb: NotebookNode, resources: dict) -> tuple[NotebookNode, dict]:
        info = resources["nbgrader"]
        with Gradebook(info["db_url"]) as gradebook:
            known = {cell.name for cell in gradebook.find_notebook(info["notebook"], info["assignment"]).source_cells}
        for cell in nb.cells:
            if "nbgrader" in cell.metadata and cell.metadata.nbgrader.get("grade_id") not in known:
                self.log.warning("%s/%s: a cell with nbgrader metadata the release did not have (%s) grades nothing",
                                 info["student"], info["notebook"], cell.metadata.nbgrader.get("grade_id"))
                del cell.metadata["nbgrader"]
        return nb, resources


class SandboxOutputs(NbGraderPreprocessor):
    """In place of nbgrader's Execute: no kernel; each test cell gets the sandbox's verdict as its output."""

    def __init__(self, verdicts: SandboxVerdicts, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.verdicts = verdicts

    def preprocess(self, nb: NotebookNode, resources: dict) -> tuple[NotebookNode, dict]:
        student, notebook = resources["nbgrader"]["student"], resources["nbgrader"]["notebook"]
        for cell in nb.cells:
            if cell.cell_type != "code":
                continue
            cell.outputs, cell.execution_count = [], None
            if utils.is_grade(cell) and not utils.is_solution(cell) and "grade_id" in cell.metadata.nbgrader:
                verdict = self.verdicts.cell(student, notebook, cell.metadata.nbgrader["grade_id"])
                cell.outputs = [NotebookNode(o) for o in verdict.outputs]
        return nb, resources


class SaveSandboxGrades(SaveAutoGrades):
    """nbgrader's SaveAutoGrades, with each test cell's score and its exercise's comment from the sandbox."""

    def __init__(self, verdicts: SandboxVerdicts, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.verdicts = verdicts

    def _add_score(self, cell: NotebookNode, resources: dict) -> None:
        if cell.cell_type != "code" or utils.is_solution(cell):
            super()._add_score(cell, resources)  # a written answer: nbgrader leaves it to a person
            return
        cell_id = cell.metadata["nbgrader"]["grade_id"]
        verdict = self.verdicts.cell(self.student_id, self.notebook_id, cell_id)
        grade = self.gradebook.find_grade(cell_id, self.notebook_id, self.assignment_id, self.student_id)
        grade.auto_score = max(0.0, min(verdict.score, grade.max_score))
        grade.needs_manual_grade = verdict.review or grade.manual_score is not None
        self.gradebook.db.commit()

    def _add_comment(self, cell: NotebookNode, resources: dict) -> None:
        super()._add_comment(cell, resources)
        cell_id = cell.metadata["nbgrader"]["grade_id"]
        summary = self.verdicts.of(self.student_id).summaries.get(cell_id)
        if summary is None:
            return
        comment = self.gradebook.find_comment(cell_id, self.notebook_id, self.assignment_id, self.student_id)
        if comment.auto_comment is None:  # nbgrader's "No response." for an untouched answer stays
            comment.auto_comment = summary
            self.gradebook.db.commit()


class SandboxAutograde(Autograde):
    """nbgrader's Autograde converter whose grading steps are the sandbox's, whatever the config says."""

    def __init__(self, verdicts: SandboxVerdicts, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.verdicts = verdicts

    def _init_preprocessors(self) -> None:
        self.exporter._preprocessors = []
        if self._sanitizing:
            steps: list[Any] = [ClearOutput, DeduplicateIds, ForgetUnknownCells, OverwriteKernelspec, OverwriteCells,
                                CheckCellMetadata]
        else:
            steps = [SandboxOutputs(self.verdicts, parent=self.exporter), IgnorePattern, ClearMetadataPreprocessor,
                     LimitOutput, SaveSandboxGrades(self.verdicts, parent=self.exporter), AssignLatePenalties,
                     CheckCellMetadata]
        for step in steps:
            self.exporter.register_preprocessor(step)  # as nbgrader does: ClearMetadataPreprocessor stays off


# ----------------------------------------------------------------------------- the command

def course_config(course: Path) -> Config:
    """The course's nbgrader_config.py, as nbgrader would load it from the course folder."""
    config = Config()
    if (course / "nbgrader_config.py").is_file():
        config = PyFileConfigLoader("nbgrader_config.py", path=str(course)).load_config()
    if not config.CourseDirectory.get("root"):
        config.CourseDirectory.root = str(course)
    # A student who deleted a test cell still gets its verdict, in a cell put back in its place.
    config.OverwriteCells.add_missing_cells = True
    return config


def _assignment(coursedir: CourseDirectory, wanted: str | None) -> str:
    with Gradebook(coursedir.db_url, coursedir.course_id) as gradebook:
        known = sorted(a.name for a in gradebook.assignments)
    if wanted is not None:
        if wanted not in known:
            raise UserError(f"the gradebook has no assignment {wanted!r}: run nbgrader generate_assignment {wanted}")
        return wanted
    if len(known) != 1:
        raise UserError("name the assignment with --assignment: the gradebook has "
                        + (", ".join(known) if known else "none (run nbgrader generate_assignment first)"))
    return known[0]


def _not_restored_hidden_test(record: logging.LogRecord) -> bool:
    """Drop OverwriteCells' notice for each test cell it gives back its hidden part (every cell, every student)."""
    return not record.getMessage().startswith("Attribute 'checksum' for cell ")


def _logger() -> logging.Logger:
    log = logging.getLogger("brokerlab.nbgrader")
    if not log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.addFilter(_not_restored_hidden_test)
        handler.setFormatter(logging.Formatter("[nbgrader] %(levelname)s | %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.WARNING)
        log.propagate = False
    return log


def autograde(course: Path, assignment: str | None = None, student: str = "*",
              force: bool = False) -> dict[str, SubmissionResult]:
    """Grade the course's submissions in the sandbox into its gradebook and autograded/; the results by student."""
    from grader.integrations.nbgrader.submitted import find_nbgrader_students

    if not course.is_dir():
        raise UserError(f"{course}: no such course folder")
    config = course_config(course)
    coursedir = CourseDirectory(config=config)
    coursedir.assignment_id = _assignment(coursedir, assignment)
    coursedir.student_id = student
    root = Path(coursedir.root)
    students = find_nbgrader_students(root, coursedir.assignment_id)
    if students is None:
        raise UserError(f"{root}: no submitted/<student>/<assignment>/ notebooks of this course")
    from grader.grade import Grader

    with Grader() as grader:
        found = SandboxVerdicts(students, grader.grade_submission)
        converter = SandboxAutograde(found, coursedir=coursedir, config=config, log=_logger())
        converter.force = force or converter.force
        try:
            converter.start()
        except NbGraderException as exc:
            raise UserError(f"nbgrader could not autograde ({exc}); its messages are above") from None
    return found.results


def run(args: argparse.Namespace) -> int:
    results = autograde(args.course, args.assignment, args.student, args.force)
    for student_id, result in sorted(results.items()):
        print(f"{student_id}: {result.score:g} of {result.max_score:g} points")
    if not results:
        print("Nothing graded: every matching student is in autograded/ already (--force grades them again).")
    else:
        print(f"Graded {len(results)} student{'s' if len(results) != 1 else ''} in the sandbox into the gradebook "
              "and autograded/; "
              "nbgrader export, formgrader and generate_feedback show these verdicts.")
    return 0
