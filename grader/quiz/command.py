"""The ``brokerlab quiz`` verb: take a quiz, grade answers at once (practice), export, check the bank."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rich.console import Console
from rich.text import Text

from grader.errors import UserError
from grader.paths import ANSWERS_FILE, QUIZZES
from grader.quiz.loader import QuizFileError, load_any_quiz, load_bank, load_quiz_file, quiz_files
from grader.quiz.schema import PublicQuiz, Quiz
from grader.results import Status

HELP = "take, grade or export the quizzes"

FORMATS = {"qti": ".zip", "moodle": ".xml"}


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="quiz_command", metavar="SUBCOMMAND", required=True)
    take = sub.add_parser("take", help="answer a quiz in the terminal, saved to answers.yaml",
                          description="Answer a quiz question by question; each answer is saved at once.")
    take.add_argument("quiz", metavar="QUIZ", help="a quiz id (checkpoint, discussion, concepts) or a quiz file")
    take.add_argument("--answers", type=Path, default=None,
                      help="the answers file to write or update (default: exercises/answers.yaml if there is an "
                           "exercises folder here, else ./answers.yaml)")
    take.add_argument("--quizzes", type=Path, default=None,
                      help="the folder of quiz files (default: the course's, else ./quizzes)")
    grade = sub.add_parser("grade", help="grade an answers file now and show the feedback (practice)",
                           description="Grade an answers.yaml at once and show scores and feedback.")
    grade.add_argument("answers", metavar="ANSWERS", type=Path, help="the answers.yaml to grade")
    export = sub.add_parser("export", help="export a quiz for Canvas (QTI 1.2 zip) or Moodle (XML)",
                            description="Export a quiz to a file an LMS imports.")
    export.add_argument("quiz", metavar="QUIZ", help="a quiz id or a quiz file")
    export.add_argument("--format", required=True, choices=sorted(FORMATS), help="qti (Canvas) or moodle")
    export.add_argument("--out", required=True, type=Path, metavar="FILE", help="the file to write")
    export.add_argument("--moodle-ordering", choices=("ordering", "matching"), default="ordering",
                        help="Moodle: ordering questions as Moodle's ordering type (default; core since 4.4) or, "
                             "for older sites, as matching questions (position -> item)")
    sub.add_parser("check", help="validate the quiz files and run their example answers",
                   description="Validate every quiz file and run each question's examples through the scorer.")


def run(args: argparse.Namespace) -> int:
    return {"take": _take, "grade": _grade, "export": _export, "check": _check}[args.quiz_command](args)


def find_quiz(name: str, quizzes: Path | None = None, *, full: bool = False) -> Quiz | PublicQuiz:
    """A quiz by file path, or by id: from ``quizzes``, else the course's bank, else ./quizzes."""
    path = Path(name)
    if path.suffix in (".yaml", ".yml"):
        if not path.is_file():
            raise UserError(f"{path}: no such quiz file")
        return load_quiz_file(path) if full else load_any_quiz(path)
    known: list[str] = []
    if quizzes is None:
        bank = load_bank() if QUIZZES.is_dir() else {}
        if name in bank:
            return bank[name]
        known += list(bank)
        folder = Path.cwd() / "quizzes"
    else:
        folder = quizzes
    candidate = folder / f"{name}.yaml"
    if candidate.is_file():
        return load_quiz_file(candidate) if full else load_any_quiz(candidate)
    known += [p.stem for p in quiz_files(folder)] if folder.is_dir() else []
    hint = f"; the quizzes are {', '.join(sorted(set(known)))}" if known else ""
    raise UserError(f"no quiz {name!r}{hint}")


def _take(args: argparse.Namespace) -> int:
    from grader.quiz.take import take_quiz

    quiz = find_quiz(args.quiz, args.quizzes)
    answers = args.answers or (Path("exercises") / ANSWERS_FILE if Path("exercises").is_dir() else Path(ANSWERS_FILE))
    take_quiz(quiz, answers)
    return 0


STATUS_STYLE = {Status.PASSED: "green", Status.FAILED: "red", Status.NEEDS_GRADING: "yellow", Status.ERROR: "red"}


def _grade(args: argparse.Namespace) -> int:
    from grader.quiz.grading import grade_answers_file

    if not args.answers.is_file():
        raise UserError(f"{args.answers}: no such answers file")
    results = grade_answers_file(args.answers)
    console = Console(highlight=False)
    if not results:
        console.print(f"{args.answers} names no quiz.")
        return 0
    for quiz_id, result in results.items():
        console.rule(Text(f"{quiz_id}: {result.score:g} / {result.max_score:g}"))
        if result.feedback:
            console.print(Text(result.feedback, style="yellow"))
        for test in result.tests:
            label = f"{test.name}  {test.score:g}/{test.max_score:g}  {test.status.value}"
            console.print(Text(label, style=f"bold {STATUS_STYLE.get(test.status, '')}".strip()))
            feedback = test.feedback
            if test.status is Status.NEEDS_GRADING:
                feedback = feedback.split("\n", 1)[0]  # the rubric and model answer are for the person grading
            if feedback:
                console.print(Text("    " + feedback.replace("\n", "\n    ")))
    pending = sum(1 for r in results.values() for t in r.tests if t.status is Status.NEEDS_GRADING)
    if pending:
        console.print(Text(f"{pending} free-response answer(s) wait for a person; they count 0 until graded.",
                           style="yellow"))
    return 0


def _export(args: argparse.Namespace) -> int:
    quiz = find_quiz(args.quiz, full=True)
    assert isinstance(quiz, Quiz)
    if args.out.suffix.lower() != FORMATS[args.format]:
        raise UserError(f"{args.out}: a {args.format} export is a {FORMATS[args.format]} file")
    if args.format == "qti":
        from grader.quiz.exporters.qti import export_qti

        warnings = export_qti(quiz, args.out)
    else:
        from grader.quiz.exporters.moodle import export_moodle

        warnings = export_moodle(quiz, args.out, args.moodle_ordering)
    for warning in warnings:
        print(f"brokerlab quiz export: warning: {warning}", file=sys.stderr)
    print(f"wrote {args.out} ({len(quiz.questions)} questions of {quiz.id})")
    return 0


def _check(args: argparse.Namespace) -> int:
    from grader.quiz.schema import SCHEMA_FILE, json_schema_text
    from grader.quiz.scoring import evaluate

    problems: list[str] = []
    quizzes = []
    for path in quiz_files(QUIZZES):
        try:
            quizzes.append(load_quiz_file(path))
        except QuizFileError as exc:
            problems.extend(str(p) for p in exc.problems)
    for quiz in quizzes:
        for q in quiz.questions:
            for example in getattr(q, "examples", []):
                got = round(evaluate(q, example.response).credit * q.points, 4)
                if abs(got - example.score) > 1e-4:
                    problems.append(f"quizzes/{quiz.id}.yaml: question {q.id}: the example {example.response!r} "
                                    f"scores {got:g}, not {example.score:g}")
    if not SCHEMA_FILE.is_file() or SCHEMA_FILE.read_text(encoding="utf-8") != json_schema_text():
        problems.append(f"{SCHEMA_FILE.name} is stale: run `python -m grader.quiz.schema`")
    for problem in problems:
        print(problem)
    questions = sum(len(q.questions) for q in quizzes)
    print(f"{len(quizzes)} quizzes, {questions} questions: "
          + (f"{len(problems)} problem(s)" if problems else "all valid, every example scores as stated"))
    return 1 if problems else 0
