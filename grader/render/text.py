"""The readable report: per exercise, per test, score and feedback.

It is printed to a terminal, so every piece of text that a submission can fill (quiz keys,
answers echoed in feedback, what the student's code printed) has its control characters shown
(ESC as ``\\x1b``): no escape sequence of a student's reaches the instructor's terminal.
"""
from __future__ import annotations

import textwrap

from grader.render.safe import visible
from grader.results import Status, SubmissionResult

MARKS = {Status.PASSED: "PASS", Status.FAILED: "FAIL", Status.ERROR: "----", Status.TIMEOUT: "TIME",
         Status.NEEDS_GRADING: "WAIT", Status.GRADER_ERROR: "BUG!"}


def _points(x: float) -> str:
    return f"{x:g}"


def to_text(result: SubmissionResult, title: str | None = None, show_output: bool = True) -> str:
    lines: list[str] = []
    if title:
        title = visible(title)
        lines += [title, "=" * len(title)]
    for key, exercise in result.exercises.items():
        lines.append(f"\n{visible(key)}: {_points(exercise.score)}/{_points(exercise.max_score)}")
        if exercise.feedback:
            lines.append(f"  ! {visible(exercise.feedback)}")
        for test in exercise.tests:
            lines.append(f"  [{MARKS[test.status]}] {visible(test.name)}  "
                         f"{_points(test.score)}/{_points(test.max_score)}")
            if test.feedback and not (exercise.feedback and test.status is Status.ERROR):
                lines += textwrap.wrap(visible(test.feedback, keep="\n\t"), width=96,
                                       initial_indent="         ", subsequent_indent="         ")
            if show_output and test.output and test.status is not Status.PASSED:
                snippet = [visible(s) for s in test.output.strip().splitlines()[-3:]]
                lines += ["         your code printed: " + snippet[0][:120]] + \
                         ["                            " + s[:120] for s in snippet[1:]]
    lines.append(f"\nTotal: {_points(result.score)}/{_points(result.max_score)}\n")
    return "\n".join(lines)
