"""What a student gets back, as Markdown: per exercise, per test, the score and the feedback.

Student-facing: test names, points, the feedback written for students, what their own code
printed and their own traceback. Never the hidden tests' source and never a traceback of the
grader's (a grader error says only that it is not the student's fault).

Every piece of text is written as literal Markdown (``grader.render.safe``): a student id,
an answer, a quiz key or a line the student's code printed can add no heading, link, image or
HTML, and cannot close the code block it is shown in.
"""
from __future__ import annotations

from grader.render.safe import md_fence, md_inline, md_text
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


def _test(test: TestResult, exercise: ExerciseResult) -> list[str]:
    out = [f"- {ICONS[test.status]} **{md_inline(test.name)}**: {_points(test.score)}/{_points(test.max_score)} "
           f"({WORDS[test.status]})"]
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
            body.append("<details><summary>What your code printed</summary>\n\n" + md_fence(_tail(test.output))
                        + "\n\n</details>")
        if test.traceback:
            body.append("<details><summary>Your code's traceback</summary>\n\n" + md_fence(test.traceback.strip())
                        + "\n\n</details>")
    for block in body:
        out += [""] + ["  " + line if line else "" for line in block.splitlines()]
    return out


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
        lines += [f"- **{md_inline(key)}**: {_points(e.score)}/{_points(e.max_score)} (not graded)"
                  for key, e in result.exercises.items()]
        return "\n".join(lines).rstrip() + "\n"
    for key, exercise in result.exercises.items():
        kind = "quiz" if exercise.kind == "quiz" else "exercise"
        lines += ["", f"## {md_inline(key)} ({kind}): {_points(exercise.score)}/{_points(exercise.max_score)}"]
        if exercise.feedback:
            lines += ["", _quote(_plain(exercise.feedback))]
        if exercise.tests and all(t.status is Status.ERROR for t in exercise.tests) and exercise.feedback:
            lines += ["", f"None of its {len(exercise.tests)} tests could run "
                          f"({', '.join(t.name for t in exercise.tests)})."]
            continue
        if exercise.tests:
            lines.append("")
        for test in exercise.tests:
            lines += _test(test, exercise)
    return "\n".join(lines).rstrip() + "\n"
