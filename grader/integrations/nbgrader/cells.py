"""What an answer cell is: its first line, its code or answer, its notebook, and the submission they make.

The notebook builder writes these cells, the kernel (``runtime``) reads them while nbgrader
autogrades, and ``submitted`` reads them from the notebook files for ``brokerlab``. All three go
through this module, so both graders see the same code and the same answers, byte for byte.

An exercise's answer cell starts with ``%%brokerlab sqs_producer.py``: the cell magic hands the
code to the grader instead of running it in the kernel. A quiz answer cell starts with
``%%brokerlab answers.yaml <quiz> <question>`` and holds ``answer = <a Python value>``, which is
read, never run.
"""
from __future__ import annotations

import ast
import re
import shlex
from dataclasses import dataclass
from typing import Any

import yaml

from grader.paths import ANSWERS_FILE, EXERCISE_FILES
from grader.submission import Submission, _check_sources

MAGIC = "brokerlab"
QUIZ_NOTEBOOK = "quizzes.ipynb"
# What nbgrader's ClearSolutions leaves in a written (markdown) answer the student has not touched.
TEXT_STUB = "YOUR ANSWER HERE"


def notebook_name(exercise: str) -> str:
    """An exercise's notebook is named after its file: sqs_producer.py -> sqs_producer.ipynb."""
    return EXERCISE_FILES[exercise].removesuffix(".py") + ".ipynb"


def grade_id(*parts: str) -> str:
    """nbgrader's cell id: letters, digits, '_' and '-' only."""
    return re.sub(r"[^A-Za-z0-9_-]", "-", "_".join(parts))


class AnswerCellError(ValueError):
    """A quiz answer cell that holds no readable ``answer = ...``; the message says why, in one line."""


@dataclass(frozen=True)
class Target:
    """Where an answer cell's content goes: an exercise file, or one question of answers.yaml."""

    file: str
    quiz: str | None = None
    question: str | None = None

    @property
    def header(self) -> str:
        words = [self.file] + ([self.quiz, self.question] if self.quiz else [])
        return f"%%{MAGIC} " + " ".join(words)  # type: ignore[list-item]


def exercise_target(exercise: str) -> Target:
    return Target(EXERCISE_FILES[exercise])


def answer_target(quiz: str, question: str) -> Target:
    return Target(ANSWERS_FILE, quiz, question)


def parse_arguments(line: str) -> Target:
    """The magic's arguments (``sqs_producer.py`` or ``answers.yaml checkpoint q1``); ValueError if wrong."""
    try:
        words = shlex.split(line)
    except ValueError as exc:
        raise ValueError(f"%%{MAGIC} {line}: {exc}") from None
    files = ", ".join(EXERCISE_FILES.values())
    if len(words) == 1 and words[0] in EXERCISE_FILES.values():
        return Target(words[0])
    if len(words) == 3 and words[0] == ANSWERS_FILE:
        return Target(ANSWERS_FILE, words[1], words[2])
    raise ValueError(f"%%{MAGIC} {line}: expected one of {files}, or {ANSWERS_FILE} QUIZ QUESTION")


def split_cell(source: str) -> tuple[Target, str] | None:
    """(target, body) of an answer cell, or None when its first line is not ``%%brokerlab ...``.

    The body is everything after the first line, exactly as IPython hands it to the cell magic.
    """
    first, _, body = source.partition("\n")
    prefix = f"%%{MAGIC}"
    if not first.startswith(prefix) or first[len(prefix):][:1] not in (" ", "\t"):
        return None
    try:
        return parse_arguments(first[len(prefix):].strip()), body
    except ValueError:
        return None


def code_of(body: str) -> str:
    """The code an answer cell's body stands for: IPython hands a cell magic its body with a final
    newline added, so both graders drop trailing blank space and end with one newline."""
    return body.rstrip() + "\n" if body.strip() else ""


def read_answer(body: str) -> Any:
    """The value of the last top-level ``answer = ...`` of a quiz cell; None when there is none.

    The cell is parsed, never run, so only Python literals count (a string, number, list, dict,
    True/False); anything else is an AnswerCellError saying what to write instead.
    """
    try:
        tree = ast.parse(body)
    except SyntaxError as exc:
        raise AnswerCellError(f"line {exc.lineno}: {exc.msg}; write e.g. answer = \"B\"") from None
    value_node: ast.expr | None = None
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "answer" for t in node.targets):
            value_node = node.value
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.target.id == "answer":
            value_node = node.value
    if value_node is None:
        return None
    try:
        value = ast.literal_eval(value_node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        written = ast.get_source_segment(body, value_node) or "it"
        raise AnswerCellError(f"answer = {written} is not a plain value (quote text: answer = \"B\"; "
                              "lists in brackets: answer = [\"A\", \"D\"])") from None
    return _plain(value)


def _plain(value: Any) -> Any:
    """The value as YAML can carry it, so both graders see the same answer."""
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted((_plain(v) for v in value), key=str)
    if isinstance(value, dict):
        return {_plain(k): _plain(v) for k, v in value.items()}
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, complex):
        return str(value)
    return value


def written_answer(source: str) -> str | None:
    """A free response (a markdown answer cell), or None while it is empty or nbgrader's stub."""
    text = source.strip()
    return None if not text or text == TEXT_STUB else text


def answers_yaml(answers: dict[str, dict[str, Any]]) -> bytes:
    """answers.yaml as the contract describes it: quiz id -> question id -> answer."""
    return yaml.safe_dump(answers, sort_keys=False, allow_unicode=True, default_flow_style=False).encode("utf-8")


def make_submission(student_id: str, files: dict[str, str], answers: dict[str, dict[str, Any]] | None,
                    notes: list[str] | None = None) -> Submission:
    """A ``Submission`` from answer cells: exercise file -> code, and the quiz answers (None: no quiz)."""
    sources = {name: code.encode("utf-8") for name, code in files.items()}
    if answers is not None:
        sources[ANSWERS_FILE] = answers_yaml(answers)
    submission = Submission(student_id, sources)
    submission.skipped.extend(notes or [])
    _check_sources(submission)
    return submission
