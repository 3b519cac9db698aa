"""What a student gets back, as Markdown: per exercise, per test, the score and the feedback.

Student-facing: test names, points, the feedback written for students, what their own code
printed and their own traceback. Never the hidden tests' source and never a traceback of the
grader's (a grader error says only that it is not the student's fault).

Every piece of text is written as literal Markdown (``grader.render.safe``): a student id,
an answer, a quiz key or a line the student's code printed can add no heading, link, image or
HTML, and cannot end the code block it is shown in.

The page renders the same under CommonMark and under original Markdown (python-markdown, PHP
Markdown, which many LMS use): list items start their content at column 4 and indent what belongs
to them by 4, items are separated by blank lines, code blocks are indented (original Markdown
has no fences) and there is no HTML (original Markdown reads none inside a list).
"""
from __future__ import annotations

from typing import Sequence

from grader.render.safe import TAB, md_code, md_inline, md_text
from grader.results import ExerciseResult, Status, SubmissionResult, TestResult

ICONS = {Status.PASSED: "✅", Status.FAILED: "❌", Status.ERROR: "⛔", Status.TIMEOUT: "⏱️",
         Status.NEEDS_GRADING: "📝", Status.GRADER_ERROR: "⚠️"}
WORDS = {Status.PASSED: "passed", Status.FAILED: "failed", Status.ERROR: "not graded", Status.TIMEOUT: "timed out",
         Status.NEEDS_GRADING: "waits for a person", Status.GRADER_ERROR: "grader error"}
STATUS_NOTES = {
    "empty": "No exercise file or answers were found in your submission.",
    "unreadable": "Your submission could not be opened, so nothing in it was graded.",
    "timed out": "Grading your submission took too long and was stopped, so nothing in it was graded.",
    "grader error": "The grader failed on your submission. This is not your fault: your instructor has been told.",
}
OUTPUT_LINES = 30
ITEM = "-" + " " * (TAB - 1)
INDENT = " " * TAB


def _points(x: float) -> str:
    x = round(float(x), 4)
    return "0" if x == 0 else format(x, ".12g")


def student_feedback(test: TestResult) -> str:
    """A test's feedback as a student may read it: a free response waiting for a person keeps the
    rubric and the model answer for that person."""
    text = test.feedback or ""
    if test.status is Status.NEEDS_GRADING:
        text = text.split("\nRubric", 1)[0].split("\nModel answer", 1)[0]
    return text


def _quote(text: str) -> str:
    return "\n".join("> " + line if line else ">" for line in text.strip().splitlines())


def _plain(text: str) -> str:
    """Feedback as Markdown paragraphs, with nothing in it read as markup."""
    return md_text(text.strip())


def _tail(text: str, lines: int = OUTPUT_LINES) -> str:
    kept = text.rstrip().splitlines()
    if len(kept) > lines:
        kept = ["[...]"] + kept[-lines:]
    return "\n".join(kept)


def _item(first: str, blocks: Sequence[str] = ()) -> list[str]:
    """One list item: its first line after the marker, then its blocks indented to its content."""
    out = [ITEM + first]
    for block in blocks:
        out += [""] + [INDENT + line if line else "" for line in block.splitlines()]
    return out


def _test(test: TestResult, exercise: ExerciseResult) -> list[str]:
    first = (f"{ICONS[test.status]} **{md_inline(test.name)}**: {_points(test.score)}/{_points(test.max_score)} "
             f"({WORDS[test.status]})")
    body: list[str] = []
    feedback = student_feedback(test)
    said_by_exercise = exercise.feedback and test.status is Status.ERROR and \
        feedback.removeprefix("Not graded: ") == exercise.feedback
    if feedback and not said_by_exercise:
        body.append(_plain(feedback))
    if test.concept and test.status is not Status.PASSED:
        body.append(f"*Concept:* {_plain(test.concept)}")
    if test.status is not Status.GRADER_ERROR:  # our own failures never show our internals
        if test.output and test.status is not Status.PASSED:
            body += ["*What your code printed:*", md_code(_tail(test.output))]
        if test.traceback:
            body += ["*Your code's traceback:*", md_code(test.traceback.strip())]
    return _item(first, body)


def to_markdown(result: SubmissionResult, student_id: str | None = None, title: str = "Broker Lab") -> str:
    heading = f"# {title}: feedback for {md_inline(student_id)}" if student_id else f"# {title}: feedback"
    lines = [heading, "", f"**Total: {_points(result.score)}/{_points(result.max_score)}**"]
    if result.status in STATUS_NOTES:
        lines += ["", _quote(STATUS_NOTES[result.status])]
    reasons = {e.feedback for e in result.exercises.values()}
    blanket = result.status not in ("ok", "empty") and len(reasons) == 1 and all(
        t.status is Status.ERROR for e in result.exercises.values() for t in e.tests)
    if blanket:  # one reason for everything (unreadable, timed out): say it once
        lines += ["", f"Why: {_plain(reasons.pop())}", ""]
        lines += [f"{ITEM}**{md_inline(key)}**: {_points(e.score)}/{_points(e.max_score)} (not graded)"
                  for key, e in result.exercises.items()]
        return "\n".join(lines).rstrip() + "\n"
    for key, exercise in result.exercises.items():
        kind = "quiz" if exercise.kind == "quiz" else "exercise"
        lines += ["", f"## {md_inline(key)} ({kind}): {_points(exercise.score)}/{_points(exercise.max_score)}"]
        if exercise.feedback:
            lines += ["", _quote(_plain(exercise.feedback))]
        if exercise.tests and all(t.status is Status.ERROR for t in exercise.tests) and exercise.feedback:
            names = ", ".join(md_inline(t.name) for t in exercise.tests)
            lines += ["", f"Its {len(exercise.tests)} questions score 0 ({names})." if exercise.kind == "quiz"
                      else f"None of its {len(exercise.tests)} tests could run ({names})."]
            continue
        for test in exercise.tests:
            lines += [""] + _test(test, exercise)
    return "\n".join(lines).rstrip() + "\n"
