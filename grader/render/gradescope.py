"""Gradescope's results.json (https://gradescope-autograders.readthedocs.io/en/latest/specs/).

One Gradescope test per test or quiz question. The hidden suites' tests are shown to students
``after_published`` by default (their names and feedback teach, but only once grades are out);
quiz questions are ``visible``. A test that sets a visibility of its own other than ``visible``
keeps it. The grader's own stdout is never shown to students, nor a free response's rubric and
model answer while it waits for a person.
"""
from __future__ import annotations

from typing import Any

from grader.render.markdown import student_feedback
from grader.results import Status, SubmissionResult

GS_STATUS = {Status.PASSED: "passed"}
VISIBILITIES = ("hidden", "after_due_date", "after_published", "visible")
HIDDEN_DEFAULT = "after_published"
OUTPUT_TAIL = 2000


def _check(visibility: str, what: str) -> str:
    if visibility not in VISIBILITIES:
        raise ValueError(f"{what} must be one of {', '.join(VISIBILITIES)}, not {visibility!r}")
    return visibility


def to_gradescope(result: SubmissionResult, hidden_visibility: str = HIDDEN_DEFAULT,
                  quiz_visibility: str = "visible") -> dict[str, Any]:
    _check(hidden_visibility, "hidden_visibility")
    _check(quiz_visibility, "quiz_visibility")
    tests = []
    for key, exercise in result.exercises.items():
        default = hidden_visibility if exercise.kind == "code" else quiz_visibility
        for test in exercise.tests:
            output = student_feedback(test) or ("passed" if test.passed else "")
            if test.status is not Status.GRADER_ERROR:
                if test.output and not test.passed:
                    output += "\n\nYour code printed:\n" + test.output[-OUTPUT_TAIL:]
                if test.traceback:
                    output += "\n\n" + test.traceback
            own = test.visibility if test.visibility in VISIBILITIES and test.visibility != "visible" else None
            tests.append({
                "name": f"{key}: {test.name}",
                "score": test.score,
                "max_score": test.max_score,
                "status": GS_STATUS.get(test.status, "failed"),
                "output": output.strip(),
                "visibility": own or default,
            })
    return {"score": result.score, "tests": tests, "visibility": "visible",
            "stdout_visibility": "hidden"}
