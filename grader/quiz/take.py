"""Taking a quiz in the terminal: one question at a time, saved to answers.yaml as it goes.

Input goes through the same ``parse_answer`` the grader uses, so whatever the terminal accepts
is an answer the grader can read. Works on the full bank or on the public quiz of the student
bundle. Tests feed the answers through ``stream``.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, TextIO

from rich.console import Console
from rich.markdown import Markdown
from rich.text import Text

from grader.errors import UserError
from grader.quiz.loader import YamlError, dump_yaml, read_yaml
from grader.quiz.schema import TYPE_NAMES, PublicQuiz, Quiz
from grader.quiz.scoring import AnswerError, parse_answer

HEADER = ("# Broker Lab quiz answers: quiz id -> question id -> answer.\n"
          "# Written by `brokerlab quiz take`; you may edit it by hand (see quizzes/README.md).\n")

HINTS = {
    "single": "one letter",
    "multiple": "every letter that applies, separated by spaces (e.g. A C)",
    "true_false": "true or false (t / f)",
    "short_answer": "a word or short phrase",
    "numeric": "a number",
    "ordering": "the letters in order, first to last (e.g. C A B)",
    "free_response": "a few sentences; finish with an empty line",
}


def read_answers(path: Path) -> dict[Any, Any]:
    """The answers saved so far; refuses to go on (rather than overwrite) if the file is broken."""
    if not path.exists():
        return {}
    try:
        doc = read_yaml(path.read_text(encoding="utf-8"), yes_no_strings=True)
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: cannot read it: {exc}") from None
    except YamlError as exc:
        raise UserError(f"{path}:{exc.line or 1}: {exc}; fix it or move it away first") from None
    if doc.problems:
        _, line, message = doc.problems[0]
        raise UserError(f"{path}:{line}: {message}; fix it first")
    if doc.data is None:
        return {}
    if not isinstance(doc.data, dict):
        raise UserError(f"{path}: not a mapping of quiz ids to answers; fix it or move it away first")
    return doc.data


def write_answers(path: Path, answers: dict[Any, Any]) -> None:
    """Replace the file in one step, so an interrupted save never leaves half a file."""
    text = HEADER + dump_yaml(answers)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".answers-", suffix=".yaml", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class _Terminal:
    def __init__(self, console: Console, stream: TextIO | None):
        self.console = console
        self.stream = stream

    def read(self, prompt: str) -> str:
        """One line; EOFError at the end of input (Ctrl-D)."""
        if self.stream is None:
            return self.console.input(Text(prompt))
        self.console.print(prompt, end="", markup=False, highlight=False)
        line = self.stream.readline()
        if not line:
            raise EOFError
        return line.rstrip("\r\n")

    def show(self, *parts: Any) -> None:
        self.console.print(*parts, highlight=False)


def _stored(kind: str, value: Any, typed: str) -> Any:
    """What goes into answers.yaml: the parsed answer, in the documented form."""
    if kind == "numeric":
        return int(value) if float(value).is_integer() else value
    if kind in ("short_answer", "free_response"):
        return typed.strip()
    return value


def _show_saved(value: Any) -> str:
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    text = " ".join(str(value).split())
    return text if len(text) <= 40 else text[:37] + "..."


def _ask_line(term: _Terminal, q: Any, saved: Any) -> Any:
    hint = HINTS[q.type] + (f" in {q.unit}" if q.type == "numeric" and getattr(q, "unit", None) else "")
    keep = f" [Enter keeps: {_show_saved(saved)}]" if saved is not None else " [Enter skips]"
    while True:
        typed = term.read(f"Your answer ({hint}){keep}: ")
        if q.type == "free_response" and typed.strip():
            lines = [typed]
            try:
                while (more := term.read("... ")).strip():
                    lines.append(more)
            except EOFError:
                pass  # the text typed so far is the answer; the next read stops the quiz
            typed = "\n".join(lines)
        if not typed.strip():
            return saved
        try:
            value = parse_answer(q, typed)
        except AnswerError as exc:
            term.show(Text(f"  {exc}; try again.", style="red"))
            continue
        return _stored(q.type, value, typed)


class _Stopped(EOFError):
    """Input ended part-way through a matching question: keep the pairs given so far."""

    def __init__(self, value: Any):
        super().__init__()
        self.value = value


def _ask_matching(term: _Terminal, q: Any, saved: Any) -> Any:
    term.show(Text("Options:", style="bold"))
    for letter, text in q.options.items():
        term.show(Text.assemble((f"  {letter}) ", "bold"), text))
    previous: dict[int, str] = {}
    if saved is not None:
        try:
            previous = parse_answer(q, saved) or {}
        except AnswerError:
            previous = {}
    result: dict[int, str] = {}
    letters = list(q.options)
    for number, pair in enumerate(q.pairs, start=1):
        keep = f" [Enter keeps: {previous[number]}]" if number in previous else " [Enter skips]"
        while True:
            try:
                typed = term.read(f"{number}. {pair.prompt} -> letter ({letters[0]}-{letters[-1]}){keep}: ").strip()
            except EOFError:
                result.update({n: v for n, v in previous.items() if n not in result})
                raise _Stopped(result or saved) from None
            if not typed:
                if number in previous:
                    result[number] = previous[number]
                break
            try:
                result[number] = parse_answer(q, {number: typed})[number]
                break
            except AnswerError as exc:
                term.show(Text(f"  {exc}; try again.", style="red"))
    return result or saved


def take_quiz(quiz: Quiz | PublicQuiz, answers_path: Path, console: Console | None = None,
              stream: TextIO | None = None) -> int:
    """Ask every question of ``quiz`` and save each answer at once; returns how many are answered."""
    console = console or Console()
    term = _Terminal(console, stream)
    answers = read_answers(answers_path)
    quiz_key = next((k for k in answers if str(k) == quiz.id), quiz.id)
    mine = answers.get(quiz_key)
    if not isinstance(mine, dict):
        mine = {}
    answers[quiz_key] = mine
    console.rule(Text(quiz.title))
    if quiz.instructions:
        term.show(Text(quiz.instructions))
    term.show(Text(f"Answers are saved to {answers_path} after each question. Press Enter to keep a saved "
                   "answer (or skip), Ctrl-D to stop.", style="dim"))
    total = len(quiz.questions)
    try:
        for number, q in enumerate(quiz.questions, start=1):
            console.print()
            points = f"{q.points:g} point" + ("" if q.points == 1 else "s")
            term.show(Text(f"Question {number}/{total} ({q.id}, {TYPE_NAMES[q.type]}, {points})", style="bold cyan"))
            console.print(Markdown(q.prompt))
            if q.type in ("single", "multiple"):
                for letter, choice in q.choices.items():
                    term.show(Text.assemble((f"  {letter}) ", "bold"), choice.text))
            elif q.type == "ordering":
                for letter, text in q.items.items():
                    term.show(Text.assemble((f"  {letter}) ", "bold"), text))
            saved = mine.get(q.id)
            stopped: _Stopped | None = None
            try:
                value = _ask_matching(term, q, saved) if q.type == "matching" else _ask_line(term, q, saved)
            except _Stopped as exc:
                value, stopped = exc.value, exc
            if value is not None and value != saved:
                mine[q.id] = value
                write_answers(answers_path, answers)
            if stopped is not None:
                raise stopped
    except EOFError:
        console.print()
        term.show(Text("Stopped. Your answers so far are saved.", style="yellow"))
    answered = sum(1 for q in quiz.questions if mine.get(q.id) not in (None, "", [], {}))
    term.show(Text(f"{answered} of {total} questions of {quiz.id} answered in {answers_path}.", style="bold"))
    return answered
