"""Gradescope's results.json (https://gradescope-autograders.readthedocs.io/en/latest/specs/).

One Gradescope test per test or quiz question. The hidden suites' tests are shown to students
``after_published`` by default (their names and feedback teach, but only once grades are out). A
quiz question's feedback holds its right answer and explanation, so quiz questions are shown only
``after_due_date`` (default) or ``after_published``: never while classmates can still answer. A
test that sets a visibility of its own other than ``visible`` keeps it.

A free response waiting for a person is pending, not failed: Gradescope's statuses are only
``passed`` and ``failed``, so it carries neither a status nor a score (Gradescope's informational
test), says "Pending" and is tagged ``pending``; its points are left to the person grading.
Gradescope hides the total while any test is hidden, and so does the top-level output. Outputs are
Markdown (``output_format: md``), written by ``render.safe`` as the feedback files are: feedback
escaped line by line (nothing a student wrote becomes a heading, a list, a rule, a link or HTML),
what the code printed in an indented block it cannot end. The grader's own stdout is never shown
to students, nor a free response's rubric and model answer.
"""
from __future__ import annotations

from typing import Any

from grader.render.markdown import student_feedback
from grader.render.safe import md_code, md_text
from grader.results import Status, SubmissionResult, TestResult

GS_STATUS = {Status.PASSED: "passed"}
VISIBILITIES = ("hidden", "after_due_date", "after_published", "visible")
HIDDEN_DEFAULT = "after_published"
QUIZ_VISIBILITIES = ("after_due_date", "after_published")
QUIZ_DEFAULT = "after_due_date"
OUTPUT_TAIL = 2000


def _check(visibility: str, what: str, allowed: tuple[str, ...] = VISIBILITIES) -> str:
    if visibility not in allowed:
        raise ValueError(f"{what} must be one of {', '.join(allowed)}, not {visibility!r}")
    return visibility


def _output(test: TestResult) -> str:
    feedback = md_text((student_feedback(test) or ("passed" if test.passed else "")).strip())
    parts = ["  \n".join(feedback.split("\n"))]  # line breaks kept: each line escaped on its own
    if test.status is not Status.GRADER_ERROR:
        if test.output and not test.passed:
            parts += ["Your code printed:", md_code(test.output[-OUTPUT_TAIL:])]
        if test.traceback:  # a paragraph between: two indented blocks in a row are one block
            parts += ["Your code's traceback:", md_code(test.traceback)]
    return "\n\n".join(p for p in parts if p)


def _test(key: str, test: TestResult, visibility: str) -> dict[str, Any]:
    if test.status is Status.NEEDS_GRADING:
        return {"name": f"{key}: {test.name} (pending: {test.max_score:g} points, graded by a person)",
                "output": f"**Pending**: a person grades this answer.\n\n{_output(test)}",
                "output_format": "md", "tags": ["pending"], "visibility": visibility,
                "extra_data": {"pending": True, "max_score": test.max_score}}
    return {"name": f"{key}: {test.name}", "score": test.score, "max_score": test.max_score,
            "status": GS_STATUS.get(test.status, "failed"), "output": _output(test), "output_format": "md",
            "visibility": visibility}


def to_gradescope(result: SubmissionResult, hidden_visibility: str = HIDDEN_DEFAULT,
                  quiz_visibility: str = QUIZ_DEFAULT) -> dict[str, Any]:
    _check(hidden_visibility, "hidden_visibility")
    _check(quiz_visibility, "quiz_visibility", QUIZ_VISIBILITIES)
    tests = []
    for key, exercise in result.exercises.items():
        default = hidden_visibility if exercise.kind == "code" else quiz_visibility
        for test in exercise.tests:
            own = test.visibility if test.visibility in VISIBILITIES and test.visibility != "visible" else None
            tests.append(_test(key, test, own or default))
    pending = sum(1 for t in tests if "pending" in t.get("tags", ()))
    scored = sum(t["score"] for t in tests if "score" in t)
    return {"score": round(scored, 4), "output": summary(result, tests, pending), "tests": tests,
            "visibility": "visible", "stdout_visibility": "hidden"}


def summary(result: SubmissionResult, tests: list[dict[str, Any]], pending: int) -> str:
    """The always-visible top-level output: the total only when every test is visible too."""
    found = "no exercise file or answers were found" if result.status == "empty" else "graded"
    lines = [f"Broker Lab: {found}."]
    if all(t["visibility"] == "visible" for t in tests):  # out of the assignment's maximum, pending points too
        lines.append(f"Score {result.score:g}/{result.max_score:g}.")
    else:
        lines.append("Some tests are shown once the due date has passed or grades are published; "
                     "your score is shown with them.")
    if pending:
        lines.append(f"{pending} free-response answer(s) are pending: a person grades them.")
    return " ".join(lines)
