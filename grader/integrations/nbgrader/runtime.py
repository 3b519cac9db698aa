"""What the notebooks call inside the Jupyter kernel, while a student works or nbgrader autogrades.

``%load_ext grader.integrations.nbgrader.runtime`` registers the ``%%brokerlab`` cell magic. An
answer cell headed ``%%brokerlab sqs_producer.py`` is kept, never run: the student's code runs only
in the grader's sandbox, exactly as ``brokerlab grade`` runs it. Each hidden test cell then calls
``run_hidden(exercise, test)``: the first one grades the whole exercise once with the hidden suites
(the result is kept for the kernel's life, per version of the code) and every test cell reports its
own test, so nbgrader's points per cell are the suites' points per test. Quiz test cells call
``grade_answer(quiz, question)``, which scores with the quiz engine and returns partial credit the
way nbgrader reads it: a number as the cell's value. Before the hidden part, a test cell's visible
part (all the released notebook keeps, all ``nbgrader validate`` runs) calls ``check_public`` or
``check_answered``, which fail on the stub and do nothing while nbgrader autogrades.

Everything here runs in the student's own kernel, which the student's cells can patch: these
verdicts are for the student's own checks and trusted classes. ``brokerlab nbgrader autograde``
(``autograde``) grades untrusted students in the sandbox and never runs a cell.

nbgrader gives a test cell 0 points if it writes anything to stderr, so grading runs with the
process's output (and its children's) set aside.
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import sys
import tempfile
from typing import Any, Iterator

from grader.integrations.nbgrader.cells import (MAGIC, AnswerCellError, Target, answers_yaml, code_of,
                                                make_submission, parse_arguments, read_answer, split_cell)
from grader.paths import ANSWERS_FILE, EXERCISE_FILES

_files: dict[str, str] = {}                    # exercise file -> code of its answer cell, last run wins
_answers: dict[tuple[str, str], str] = {}      # (quiz, question) -> body of its answer cell
_results: dict[tuple[str, str, bool], Any] = {}  # (exercise, sha256 of the code, public) -> ExerciseResult


class HiddenTestFailed(AssertionError):
    """A hidden test or quiz question that did not earn its points; the message is its feedback."""


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext grader.integrations.nbgrader.runtime``: register the ``%%brokerlab`` cell magic."""
    ipython.register_magic_function(brokerlab_cell, magic_kind="cell", magic_name=MAGIC)


def _body(target: Target, cell: str) -> str:
    """The cell's body as the notebook holds it: IPython may have rewritten ``cell`` (prompt stripping)."""
    try:
        from IPython import get_ipython

        raw = get_ipython().history_manager.input_hist_raw[-1]
    except (AttributeError, IndexError, ImportError):
        return cell
    split = split_cell(raw)
    return split[1] if split is not None and split[0] == target else cell


def brokerlab_cell(line: str, cell: str) -> None:
    """Keep an answer cell for the grader and say at once whether the grader can read it."""
    try:
        target = parse_arguments(line.strip())
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return
    body = _body(target, cell)
    if target.quiz is None:
        code = code_of(body)
        _files[target.file] = code
        try:
            compile(code, target.file, "exec", dont_inherit=True)
        except SyntaxError as exc:
            print(f"{target.file}, line {exc.lineno}: {exc.msg}. The grader cannot import this file: "
                  "every test of the exercise scores 0 until it is fixed.", file=sys.stderr)
            return
        print(f"{target.file}: kept for the grader ({len(code.splitlines())} lines).")
        return
    _answers[(target.quiz, target.question)] = body  # type: ignore[index]
    _check_answer(target.quiz, target.question, body)  # type: ignore[arg-type]


def _check_answer(quiz_id: str, question_id: str, body: str) -> None:
    from grader.quiz.scoring import AnswerError, parse_answer

    where = f"{quiz_id} {question_id}"
    quiz = _bank().get(quiz_id)
    question = quiz.question(question_id) if quiz else None
    if question is None:
        print(f"{where}: there is no such quiz question; keep the cell's first line as it was.", file=sys.stderr)
        return
    try:
        value = read_answer(body)
        if value is None:
            print(f"{where}: no answer yet (answer = None scores 0).")
            return
        parse_answer(question, value)
    except (AnswerCellError, AnswerError) as exc:
        print(f"{where}: {exc}. The grader cannot read this answer: it scores 0 as it is.", file=sys.stderr)
        return
    print(f"{where}: answer kept for the grader.")


@functools.lru_cache(maxsize=1)
def _bank() -> dict[str, Any]:
    from grader.quiz.loader import load_bank

    return load_bank()


@contextlib.contextmanager
def _set_aside() -> Iterator[Any]:
    """Send everything written to stdout and stderr, by Python or by child processes, to a file."""
    with tempfile.TemporaryFile(mode="w+b") as sink:
        sys.stdout.flush()
        sys.stderr.flush()
        saved = [os.dup(1), os.dup(2)]
        try:
            os.dup2(sink.fileno(), 1)
            os.dup2(sink.fileno(), 2)
            text = open(sink.fileno(), "w", closefd=False, encoding="utf-8", errors="replace")
            with contextlib.redirect_stdout(text), contextlib.redirect_stderr(text):
                yield sink
                text.flush()
        finally:
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def exercise_result(exercise: str, public: bool = False) -> Any:
    """The exercise graded by the hidden suites (or the public tests), once per version of its answer cell."""
    if exercise not in EXERCISE_FILES:
        raise ValueError(f"no exercise {exercise!r}; the exercises are {', '.join(EXERCISE_FILES)}")
    file_name = EXERCISE_FILES[exercise]
    code = _files.get(file_name)
    if code is None:
        raise HiddenTestFailed(f"Nothing to grade: the answer cell starting with %%{MAGIC} {file_name} was not "
                               "run, or its first line was changed.")
    key = (exercise, hashlib.sha256(code.encode("utf-8")).hexdigest(), public)
    if key not in _results:
        from grader.check import PUBLIC_TESTS
        from grader.grade import Grader
        from grader.paths import SUITES

        submission = make_submission("notebook", {file_name: code}, None)
        # A kernel grades one exercise once, so the sandbox's zygote goes as soon as it is done:
        # left running, it holds up the kernel's shutdown (ipykernel waits for its children).
        with _set_aside(), Grader(suites=PUBLIC_TESTS if public else SUITES, exercises=(exercise,),
                                  quizzes=False, sandbox="auto") as grader:
            _results[key] = grader.grade_submission(submission).exercises[exercise]
    return _results[key]


def _grading() -> bool:
    """Whether nbgrader is autograding: then the hidden part of a test cell decides, and only it."""
    return os.environ.get("NBGRADER_EXECUTION") == "autograde"


def check_public(exercise: str) -> None:
    """The visible part of a hidden test cell: fails until the exercise passes its public tests.

    So ``nbgrader validate`` (and running the notebook) tells a student with a stub or a broken
    file that it is not done, without showing what the hidden tests check.
    """
    __tracebackhide__ = True
    if _grading():
        return
    result = exercise_result(exercise, public=True)
    failed = [t for t in result.tests if t.score < t.max_score]
    if failed or not result.tests:
        reasons = "\n".join(f"- {t.name}: {t.feedback or t.status.value}" for t in failed) or result.feedback
        raise HiddenTestFailed(f"{EXERCISE_FILES[exercise]} does not pass the public checks yet "
                               f"(brokerlab check {exercise}):\n{reasons}")
    print(f"{EXERCISE_FILES[exercise]} passes the public checks; this hidden test runs when your instructor "
          "grades the notebook.")


def check_answered(quiz_id: str, question_id: str) -> None:
    """The visible part of a quiz test cell: fails while it has no readable answer (never says if it is right)."""
    __tracebackhide__ = True
    if _grading():
        return
    body = _answers.get((quiz_id, question_id))
    if body is None:
        raise HiddenTestFailed(f"Not answered: run the answer cell of {quiz_id} {question_id} first.")
    try:
        value = read_answer(body)
    except AnswerCellError as exc:
        raise HiddenTestFailed(f"{quiz_id} {question_id}: {exc}") from None
    if value is None:
        raise HiddenTestFailed(f"{quiz_id} {question_id}: not answered yet (answer = None scores 0).")
    print(f"{quiz_id} {question_id}: answered; graded when your instructor grades this notebook.")


def run_hidden(exercise: str, test: str) -> None:
    """One hidden test cell: passes silently with its points, or fails with the grader's feedback."""
    __tracebackhide__ = True
    from grader.results import Status

    result = exercise_result(exercise)
    found = next((t for t in result.tests if t.name == test), None)
    if found is None:
        raise HiddenTestFailed(result.feedback or f"The grader ran no test {test!r} for {exercise}.")
    if found.status is not Status.PASSED:
        message = found.feedback or found.status.value
        if found.output:
            message += f"\n\nYour code printed:\n{found.output}"
        raise HiddenTestFailed(message)
    print(f"Passed: {found.score:g} of {found.max_score:g} points.")


def grade_answer(quiz_id: str, question_id: str) -> float | None:
    """One quiz test cell: full marks pass, partial credit is the cell's value, nothing fails."""
    __tracebackhide__ = True
    from grader.quiz.grading import grade_answers

    bank = _bank()
    if quiz_id not in bank or bank[quiz_id].question(question_id) is None:
        raise HiddenTestFailed(f"There is no question {question_id!r} in quiz {quiz_id!r}.")
    body = _answers.get((quiz_id, question_id))
    reason = None
    raw = None
    if body is None:
        reason = f"Not answered: the answer cell of {quiz_id} {question_id} was not run."
    else:
        try:
            raw = read_answer(body)
        except AnswerCellError as exc:
            reason = f"{quiz_id} {question_id}: {exc}; scored 0."
    answers = {quiz_id: {question_id: raw} if raw is not None else {}}
    result = grade_answers(answers_yaml(answers).decode("utf-8"), bank, ANSWERS_FILE)[quiz_id]
    found = next(t for t in result.tests if t.name.split(":", 1)[0] == question_id)
    if found.score <= 0:
        raise HiddenTestFailed(reason or found.feedback)
    print(found.feedback)
    return None if found.score >= found.max_score else found.score
