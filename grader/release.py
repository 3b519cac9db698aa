"""``brokerlab release OUTDIR``: the bundle students get, and nothing they must not get.

The bundle mirrors the repository, so the exercises' README and ``brokerlab check`` work in it::

    OUTDIR/exercises/   the stubs, fakes.py, the public tests, the README, and answers.yaml to fill in
    OUTDIR/quizzes/     every quiz without answer keys, feedback, explanations, rubrics or model answers

It is built in a scratch folder and checked for leaks (a solution's or hidden suite's file, an
answer-key field, the text of a feedback or explanation) before it replaces OUTDIR, so a failed
release leaves nothing half-written behind.
"""
from __future__ import annotations

import argparse
import hashlib
import re
import shutil
import tempfile
from pathlib import Path

from grader.errors import UserError
from grader.paths import EXERCISES, QUIZZES, SOLUTIONS, SUITES

HELP = "write the student bundle (stubs, public tests, quizzes without keys)"
MARKER = ".brokerlab-release"
SKIPPED_NAMES = {"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache", ".DS_Store"}
SKIPPED_SUFFIXES = {".pyc", ".pyo"}
STUDENT_SECTION = re.compile(r"<!-- student:start -->\n(.*?)<!-- student:end -->", re.S)
MIN_SECRET_CHARS = 30  # shorter texts (a letter, "Right.") say nothing about the key


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("outdir", type=Path, metavar="OUTDIR", help="the folder to write the bundle to")
    parser.add_argument("--force", action="store_true", help="replace an earlier bundle in OUTDIR")


def run(args: argparse.Namespace) -> int:
    files = build_release(args.outdir, force=args.force)
    print(f"wrote {args.outdir}: {len(files)} files")
    for path in files:
        print(f"  {path}")
    return 0


def _skipped(path: Path) -> bool:
    return path.name in SKIPPED_NAMES or path.suffix in SKIPPED_SUFFIXES


def _copy_tree(source: Path, target: Path) -> None:
    """Plain files and folders only: a symlink could point at a solution."""
    target.mkdir(parents=True, exist_ok=True)
    for entry in sorted(source.iterdir()):
        if _skipped(entry):
            continue
        if entry.is_symlink():
            raise UserError(f"{entry}: a symlink; the bundle copies only plain files")
        if entry.is_dir():
            _copy_tree(entry, target / entry.name)
        elif entry.is_file():
            shutil.copy2(entry, target / entry.name)


def _answers_template(bank: dict) -> str:
    from grader.quiz.schema import TYPE_NAMES

    lines = ["# Your quiz answers. The format is in ../quizzes/README.md; `brokerlab quiz take QUIZ` fills it in.",
             "# Leave an answer empty to skip it."]
    for quiz in bank.values():
        lines.append(f"{quiz.id}:")
        for q in quiz.questions:
            lines.append(f"  {q.id}:    # {TYPE_NAMES[q.type]}: {q.title}")
    return "\n".join(lines) + "\n"


def _quiz_readme(source: Path) -> str:
    text = source.read_text(encoding="utf-8") if source.is_file() else ""
    match = STUDENT_SECTION.search(text)
    if match:
        return match.group(1).strip() + "\n"
    return "# Quizzes\n\nAnswer each quiz in `exercises/answers.yaml`: quiz id, then question id, then your answer.\n"


def _secrets(bank: dict) -> list[str]:
    """Texts of the answer key that must never reach a student, whitespace-normalised."""
    texts: list[str] = []
    for quiz in bank.values():
        for q in quiz.questions:
            texts.append(q.explanation)
            texts += [c.feedback for c in getattr(q, "choices", {}).values()]
            texts += [getattr(q, name, "") or "" for name in ("feedback_true", "feedback_false", "model_answer")]
            texts += [r.criterion for r in getattr(q, "rubric", [])]
    normal = {" ".join(t.split()) for t in texts}
    return sorted(t for t in normal if len(t) >= MIN_SECRET_CHARS)


def _digest(path: Path) -> str | None:
    """A file's fingerprint, or None for files too small to identify (an empty __init__.py)."""
    data = path.read_bytes()
    if len(data.strip()) < 64:
        return None
    return hashlib.sha256(data.replace(b"\r\n", b"\n").strip()).hexdigest()


def find_leaks(bundle: Path, bank: dict, forbidden: tuple[Path, ...] = (SOLUTIONS, SUITES)) -> list[str]:
    """Everything in ``bundle`` a student must not get, one line each."""
    from pydantic import ValidationError

    from grader.quiz.schema import PublicQuiz
    import yaml

    leaks: list[str] = []
    hidden: dict[str, Path] = {}
    for folder in forbidden:
        if folder.is_dir():
            for path in folder.rglob("*"):
                if path.is_file() and not _skipped(path) and (digest := _digest(path)):
                    hidden[digest] = path
    secrets = _secrets(bank)
    for path in sorted(p for p in bundle.rglob("*") if p.is_file()):
        name = path.relative_to(bundle)
        if {"solutions", "suites"} & set(name.parts):
            leaks.append(f"{name}: a solutions or suites path")
        digest = _digest(path)
        if digest in hidden:
            leaks.append(f"{name}: the same file as {hidden[digest]}")
        try:
            text = " ".join(path.read_text(encoding="utf-8").split())
        except UnicodeDecodeError:
            continue
        for secret in secrets:
            if secret in text:
                leaks.append(f"{name}: holds answer-key text {secret[:50]!r}...")
                break
        if name.parts[0] == "quizzes" and path.suffix == ".yaml":
            try:
                PublicQuiz.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
            except (ValidationError, yaml.YAMLError) as exc:
                leaks.append(f"{name}: not a key-less public quiz ({str(exc).splitlines()[0]})")
    return leaks


def _prepare(outdir: Path, force: bool) -> None:
    for source in (EXERCISES, QUIZZES, SOLUTIONS, SUITES):
        resolved = outdir.resolve()
        if resolved == source.resolve() or source.resolve() in resolved.parents:
            raise UserError(f"{outdir}: inside the course's own {source.name}/; choose another folder")
    if outdir.exists() and not outdir.is_dir():
        raise UserError(f"{outdir}: exists and is not a folder")
    if outdir.is_dir() and any(outdir.iterdir()):
        if not (outdir / MARKER).is_file():
            raise UserError(f"{outdir}: not empty and not an earlier bundle; choose a new folder")
        if not force:
            raise UserError(f"{outdir}: holds an earlier bundle; add --force to replace it")


def build_release(outdir: Path, *, force: bool = False, exercises: Path = EXERCISES, quizzes: Path = QUIZZES,
                  forbidden: tuple[Path, ...] = (SOLUTIONS, SUITES)) -> list[Path]:
    """Write the student bundle to ``outdir``; returns the files written, relative to it."""
    from grader.quiz.loader import dump_yaml, load_bank

    _prepare(outdir, force)
    if not exercises.is_dir():
        raise UserError(f"{exercises}: no exercises to release")
    bank = load_bank(quizzes)
    outdir.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".brokerlab-release-", dir=outdir.parent) as scratch:
        staging = Path(scratch) / "bundle"
        _copy_tree(exercises, staging / "exercises")
        # always the empty template: an answers.yaml lying in exercises/ may be someone's key
        (staging / "exercises" / "answers.yaml").write_text(_answers_template(bank), encoding="utf-8")
        (staging / "quizzes").mkdir()
        for quiz in bank.values():
            data = quiz.public().model_dump(exclude_none=True)
            header = (f"# The questions of quiz {quiz.id}. Answer them in exercises/answers.yaml under "
                      f"'{quiz.id}:' (see README.md here), or with `brokerlab quiz take {quiz.id}`.\n")
            (staging / "quizzes" / f"{quiz.id}.yaml").write_text(header + dump_yaml(data), encoding="utf-8")
        (staging / "quizzes" / "README.md").write_text(_quiz_readme(quizzes / "README.md"), encoding="utf-8")
        (staging / MARKER).write_text("A Broker Lab student bundle (brokerlab release).\n", encoding="utf-8")
        leaks = find_leaks(staging, bank, forbidden)
        if leaks:
            raise UserError(f"the bundle would leak {len(leaks)} thing(s), nothing written: {leaks[0]}")
        if outdir.exists():
            shutil.rmtree(outdir)
        shutil.move(str(staging), str(outdir))
    return sorted(p.relative_to(outdir) for p in outdir.rglob("*") if p.is_file())
