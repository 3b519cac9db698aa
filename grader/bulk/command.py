"""``brokerlab grade-all SOURCE --out OUTDIR``: grade a whole class into a gradebook, feedback and a report.

SOURCE is a folder whose every child folder or ``.zip`` is one student's submission (the name,
less ``.zip``, is the student id), or a ``.zip`` of such a folder. OUTDIR receives:

- ``results.jsonl``: each student's full result (also what makes a run resumable);
- ``grades.csv``: one row per student, sorted by id;
- ``feedback/<student_id>.md``: what each student gets back (an id that is not a plain name, such as
  one with spaces, accents or a leading ``-``, gets a safe name: its letters and a short hash);
- ``report.html``: the class report, with plots;
- ``canvas.csv`` with ``--lms canvas``: the same totals as a Canvas gradebook import.

With ``--manual-scores FILE`` the points a person gave (free responses, regrades) are applied to
everything written from ``results.jsonl``, which itself keeps the automatic grading: changing the
file and running again updates the gradebook without grading anyone again.

A run grades only what is missing (or whose submission changed since it was graded); ``--student``
regrades just those students, ``--force`` regrades everyone. A broken submission gets its row,
its status and 0; it never stops the run, and neither does anything in one student's result:
each output is written on its own, a feedback file that cannot be rendered says so, and what
student code left in temporary folders is removed without failing. A result in which the grader
failed, as a whole or in one test, is graded again on the next run.
"""
from __future__ import annotations

import argparse
import fcntl
import hashlib
import os
import re
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from grader import course
from grader.grade import add_sandbox_option, add_seed_option
from grader.bulk import gradebook
from grader.bulk.cleanup import remove_tree
from grader.bulk.sources import Student, find_students
from grader.bulk.store import (FILE_NAME, Record, Store, grader_digest, has_grader_error, submission_digest,
                               write_atomic)
from grader.errors import UserError
from grader.paths import EXERCISE_FILES
from grader.submission import wanted_names
from grader.render.safe import md_inline, visible

HELP = "grade a whole class into a gradebook, feedback and a report"
REPORT_FILE = "report.html"
FEEDBACK_DIR = "feedback"
ERRORS_FILE = "grader-errors.log"
LMS = ("canvas",)
UNPACK_PREFIX = "brokerlab-class-"
SAFE_STEM = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,99}")
SHOWN = 20  # ids listed in one summary line


def configure(parser: argparse.ArgumentParser) -> None:
    from grader.bulk.pool import DEFAULT_TIMEOUT, default_jobs

    parser.add_argument("source", type=Path, metavar="SOURCE",
                        help="a folder of submissions (one folder or .zip per student), a .zip of one, or an "
                             "nbgrader course (its submitted/<student>/<assignment>/ notebooks)")
    parser.add_argument("--assignment", metavar="NAME",
                        help="with an nbgrader course holding several assignments: the one to grade")
    parser.add_argument("--out", type=Path, required=True, metavar="OUTDIR", help="where to write the results")
    add_sandbox_option(parser)
    add_seed_option(parser)
    parser.add_argument("--jobs", "-j", type=int, metavar="N",
                        help=f"grade N submissions at once (default: one more than the cores, {default_jobs()}; "
                             f"two more, {default_jobs(rabbitmq=True)}, for a class with AMQP files)")
    parser.add_argument("--student", action="extend", nargs="+", metavar="ID", default=[],
                        help="regrade just these students (their ids as in SOURCE)")
    parser.add_argument("--force", action="store_true", help="regrade every student, even those already graded")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, metavar="SECONDS",
                        help=f"stop grading one submission after this long (default: {DEFAULT_TIMEOUT:g})")
    parser.add_argument("--lms", choices=LMS, help="also write a gradebook to import into this LMS")
    parser.add_argument("--canvas-assignment", default="Broker Lab", metavar="NAME",
                        help="the Canvas assignment's name (default: Broker Lab)")
    parser.add_argument("--canvas-assignment-id", metavar="ID",
                        help="the Canvas assignment's id, to update that assignment: 'NAME (ID)'")
    parser.add_argument("--canvas-id-field", choices=gradebook.CANVAS_ID_FIELDS, default="SIS Login ID",
                        help="the Canvas column that holds the student id (default: SIS Login ID)")
    parser.add_argument("--manual-scores", type=Path, metavar="FILE",
                        help="YAML of points and comments a person gave (student, quiz, question); applied to "
                             "the gradebook, feedback and report, while results.jsonl keeps the automatic grading")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress, only the summary")


# -- progress -----------------------------------------------------------------------------------------

class Progress:
    """A progress bar with a time estimate on a terminal; one plain line per student otherwise."""

    def __init__(self, total: int, quiet: bool = False) -> None:
        self.total, self.done, self.quiet = total, 0, quiet
        self.started = time.monotonic()
        self.bar = None
        if not quiet and sys.stderr.isatty():
            from rich.console import Console
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress as Bar, TextColumn,
                                       TimeElapsedColumn, TimeRemainingColumn)

            # no refresh thread: the pool forks, and a fork must never copy a lock another thread holds
            self.bar = Bar(TextColumn("grading"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                           TextColumn("eta"), TimeRemainingColumn(), TextColumn("{task.fields[last]}"),
                           console=Console(stderr=True), auto_refresh=False, transient=False)
            self.task = self.bar.add_task("grading", total=total, last="")
            self.bar.start()
            self.bar.refresh()

    def tick(self) -> None:
        if self.bar is not None:
            self.bar.refresh()

    def finished(self, student_id: str, status: str, score: float, max_score: float, seconds: float) -> None:
        self.done += 1
        what = f"{visible(student_id)}: {status} {gradebook.number(score)}/{gradebook.number(max_score)}"
        if self.bar is not None:
            from rich.markup import escape

            self.bar.update(self.task, advance=1, last=escape(what))  # an id is not rich markup either
            self.bar.refresh()
        elif not self.quiet:
            elapsed = time.monotonic() - self.started
            left = elapsed / self.done * (self.total - self.done)
            print(f"[{self.done}/{self.total}] {what} ({seconds:.1f} s; about {left:.0f} s left)",
                  file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None


# -- the run ------------------------------------------------------------------------------------------

@contextmanager
def _locked(out: Path) -> Iterator[None]:
    """One grade-all at a time per output folder."""
    with open(out / ".grade-all.lock", "w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UserError(f"{out}: another grade-all is writing there; wait for it to finish") from None
        yield


def to_grade(students: list[Student], records: dict[str, Record], fingerprints: dict[str, str],
             only: list[str], force: bool) -> list[Student]:
    """Who this run grades: everyone (force), the named (only), else what is missing or changed."""
    if force:
        return list(students)
    if only:
        wanted = set(only)
        return [s for s in students if s.id in wanted]
    todo = []
    for s in students:
        record = records.get(s.id)
        if record is None or record.fingerprint != fingerprints[s.id] or has_grader_error(record.result):
            todo.append(s)
    return todo


def with_manual_scores(results: dict, manual_file: Path) -> dict:
    """Copies of the results with the scores a person gave applied (the store keeps the automatic ones)."""
    from grader.quiz.grading import apply_manual_scores

    applied = {}
    for student_id, result in results.items():
        copy = result.model_copy(deep=True)
        apply_manual_scores(copy, student_id, manual_file)
        applied[student_id] = copy
    return applied


def _hashed_stem(student_id: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9._@+-]+", "-", student_id).strip(".-")[:60].rstrip(".-") or "student"
    return f"{slug}-{hashlib.sha256(student_id.encode('utf-8', 'surrogatepass')).hexdigest()[:10]}"


def feedback_names(student_ids: list[str]) -> dict[str, str]:
    """Each student's feedback file name: the id itself when it is a plain name, else its letters
    and a short hash of it. Never a path, hidden or an option, and unique even on a file system
    that ignores case."""
    names: dict[str, str] = {}
    taken: set[str] = set()
    plain = sorted(i for i in student_ids if SAFE_STEM.fullmatch(i))
    folded = [i.casefold() for i in plain]
    for student_id in plain:
        if folded.count(student_id.casefold()) == 1:
            names[student_id] = f"{student_id}.md"
            taken.add(names[student_id].casefold())
    for student_id in sorted(set(student_ids) - names.keys()):
        stem, n = _hashed_stem(student_id), 1
        name = f"{stem}.md"
        while name.casefold() in taken:
            n += 1
            name = f"{stem}-{n}.md"
        names[student_id] = name
        taken.add(name.casefold())
    return names


def _fallback_report(results: dict, notes: list[str], why: str) -> str:
    """The class's totals on a plain page, when the full report could not be drawn."""
    from html import escape

    rows = "".join(f"<tr><td>{escape(k)}</td><td>{gradebook.number(r.score)}</td><td>{escape(r.status)}</td></tr>"
                   for k, r in sorted(results.items()))
    extra = "".join(f"<p>{escape(n)}</p>" for n in notes)
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Broker Lab: class report"
            "</title></head><body><h1>Broker Lab: class report</h1><p>The full report could not be drawn "
            f"({escape(why)}); these are the totals.</p>{extra}<table><tr><th>student</th><th>total</th>"
            f"<th>status</th></tr>{rows}</table></body></html>\n")


def _feedback_failed(student_id: str) -> str:
    return (f"# Broker Lab: feedback for {md_inline(student_id)}\n\nYour feedback could not be written out. "
            "This is not your fault: your instructor has been told and has your scores.\n")


def _error(exc: BaseException) -> str:
    return visible(f"{type(exc).__name__}: {exc}")[:300]


def write_outputs(out: Path, results: dict, args: argparse.Namespace, notes: list[str],
                  problems: list[str] | None = None) -> list[str]:
    """grades.csv, feedback/*.md, report.html and the LMS gradebook, from ``results``; their names.

    Each output is written whatever happens to the others, and a student whose feedback cannot be
    rendered gets a file that says so; what went wrong is added to ``problems``.
    """
    from grader.render.markdown import to_markdown
    from grader.report.html import render as render_report

    problems = [] if problems is None else problems
    written: list[str] = []

    def attempt(name: str, write: Callable[[], None]) -> None:
        try:
            write()
            written.append(name)
        except Exception as exc:  # noqa: BLE001 - one output failing must not cost the others
            problems.append(f"{name} could not be written ({_error(exc)})")

    attempt(gradebook.GRADES_FILE,
            lambda: gradebook.write(out / gradebook.GRADES_FILE, gradebook.grades_csv(results)))
    feedback = out / FEEDBACK_DIR
    feedback.mkdir(exist_ok=True)
    names = feedback_names(list(results))
    for student_id, result in results.items():
        try:
            text = to_markdown(result, student_id)
        except Exception as exc:  # noqa: BLE001 - that student still gets a file, the others theirs
            problems.append(f"{visible(student_id)}: the feedback could not be rendered ({_error(exc)})")
            text = _feedback_failed(student_id)
        try:
            write_atomic(feedback / names[student_id], text.encode("utf-8", "surrogatepass"))
        except (OSError, UnicodeError) as exc:
            problems.append(f"{visible(student_id)}: the feedback could not be written ({_error(exc)})")
    written.append(f"{FEEDBACK_DIR}/ ({len(results)} files)")

    def report() -> None:
        try:
            page = render_report(results, notes=notes,
                                 feedback={sid: f"{FEEDBACK_DIR}/{name}" for sid, name in names.items()})
        except Exception as exc:  # noqa: BLE001 - the instructor still gets the totals
            problems.append(f"{REPORT_FILE} holds the totals only: the full report could not be drawn "
                            f"({_error(exc)})")
            page = _fallback_report(results, notes, type(exc).__name__)
        write_atomic(out / REPORT_FILE, page.encode("utf-8", "surrogatepass"))

    attempt(REPORT_FILE, report)
    if args.lms == "canvas":
        attempt(gradebook.CANVAS_FILE, lambda: gradebook.write(out / gradebook.CANVAS_FILE, gradebook.canvas_csv(
            results, args.canvas_assignment, args.canvas_assignment_id, args.canvas_id_field)))
    return written


def _ids(ids: list[str], shown: int = SHOWN) -> str:
    listed = ", ".join(visible(i) for i in ids[:shown])
    return listed + (", ..." if len(ids) > shown else "")


def run(args: argparse.Namespace) -> int:
    if args.jobs is not None and args.jobs < 1:
        raise UserError("--jobs must be at least 1")
    if args.timeout <= 0:
        raise UserError("--timeout must be more than 0 seconds")
    if args.force and args.student:
        raise UserError("give --force (everyone) or --student (just those), not both")
    out: Path = args.out
    if not args.source.exists():
        raise UserError(f"{args.source}: no such folder or zip")
    if out.exists() and not out.is_dir():
        raise UserError(f"{out}: exists and is not a folder")
    source = args.source.resolve()
    if out.resolve() == source or source in out.resolve().parents:
        raise UserError(f"{out}: the output folder must not be inside SOURCE (it would be graded as a student)")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"{out}: cannot create it ({exc.strerror})") from None

    from grader.bulk.cleanup import remove_stale

    remove_stale(Path(tempfile.gettempdir()), UNPACK_PREFIX)
    manual = None
    if args.manual_scores is not None:  # checked whole before anyone is graded: one typo stops the run now
        from grader.quiz.grading import read_manual_scores

        manual = read_manual_scores(args.manual_scores)
    unpack = Path(tempfile.mkdtemp(prefix=f"{UNPACK_PREFIX}{os.getpid()}-"))
    try:
        with _locked(out):
            summary = _grade_and_write(args, out, unpack, manual is not None)
    finally:  # what a class archive unpacked may be any depth and mode: removed without ever failing
        if not remove_tree(unpack):
            print(f"brokerlab grade-all: could not remove {unpack}; remove it yourself", file=sys.stderr)
    print(summary)
    return 0


def needs_rabbitmq(students: list[Student]) -> bool:
    """Whether any of these submissions may hold an AMQP track file (when one cannot be told, yes)."""
    amqp = {name for exercise, name in EXERCISE_FILES.items() if exercise.startswith("amqp_")}
    for student in students:
        if student.path is None or student.refused:
            continue
        names = wanted_names(student.path)
        if names is None or names & amqp:
            return True
    return False


def _grade_and_write(args: argparse.Namespace, out: Path, unpack: Path, manual: bool) -> str:
    """Find the students, grade who needs it, write every output; the run's summary."""
    from grader.bulk.pool import Pool
    from grader.integrations.nbgrader.submitted import write_students

    source = write_students(args.source, unpack / "nbgrader", args.assignment) or args.source
    klass = find_students(source, unpack)
    for line in klass.ignored:
        print(f"brokerlab grade-all: ignored {visible(line)}", file=sys.stderr)
    students = klass.students
    ids = {s.id for s in students}
    unknown = [s for s in args.student if s not in ids]
    if unknown:
        raise UserError(f"no submission in {args.source} for student {', '.join(map(repr, unknown))}")

    store = Store(out / FILE_NAME)
    store.repair()
    records = store.load()
    if store.dropped:
        print(f"brokerlab grade-all: {store.dropped} unreadable line(s) in {FILE_NAME} were dropped; "
              "those students are graded again", file=sys.stderr)
    grader_fp = grader_digest(course.resolve_seed(args.seed))
    fingerprints = {s.id: submission_digest(s.path, s.refused, grader_fp) for s in students}
    todo = to_grade(students, records, fingerprints, args.student, args.force)

    errors: list[str] = []
    started = time.monotonic()
    if todo:
        progress = Progress(len(todo), quiet=args.quiet)

        def done(outcome) -> None:  # type: ignore[no-untyped-def]
            student = outcome.student
            record = Record(student.id, fingerprints[student.id], outcome.result)
            store.append(record)
            records[student.id] = record
            if has_grader_error(outcome.result):
                errors.append(visible(f"{student.id}: {outcome.note or 'a test hit a grader error'}", keep="\n"))
            progress.finished(student.id, outcome.result.status, outcome.result.score,
                              outcome.result.max_score, outcome.seconds)

        try:
            with Pool(args.jobs, args.timeout, args.sandbox, args.seed, rabbitmq=needs_rabbitmq(todo)) as pool:
                pool.run(todo, done, on_tick=progress.tick)
        finally:
            progress.close()
    elapsed = time.monotonic() - started
    store.rewrite(records.values())

    results = {s.id: records[s.id].result for s in students if s.id in records}
    missing = sorted(ids - results.keys())
    notes = [f"{len(missing)} student(s) not graded yet: {', '.join(missing[:20])}"] if missing else []
    if manual:
        from grader.quiz.grading import read_manual_scores

        results = with_manual_scores(results, args.manual_scores)
        strangers = sorted(set(read_manual_scores(args.manual_scores)) - ids)
        if strangers:
            print(f"brokerlab grade-all: {args.manual_scores} names students not in {args.source}: "
                  f"{_ids(strangers, 10)}", file=sys.stderr)
        notes.append(f"Scores a person gave, from {args.manual_scores.name}, are included.")
    problems: list[str] = []
    written = write_outputs(out, results, args, notes, problems)
    if errors:
        with open(out / ERRORS_FILE, "a", encoding="utf-8") as fh:
            fh.write("".join(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {e}\n" for e in errors))

    statuses: dict[str, int] = {}
    for result in results.values():
        statuses[result.status] = statuses.get(result.status, 0) + 1
    counts = ", ".join(f"{n} {status}" for status, n in sorted(statuses.items()))
    skipped = len(students) - len(todo)
    rate = f", {elapsed / len(todo):.2f} s each" if todo else ""
    lines = [f"Graded {len(todo)} of {len(students)} students in {elapsed:.1f} s{rate}"
             + (f" ({skipped} already graded)" if skipped else "") + f". Results: {counts or 'none'}."]
    refused = [s for s in students if s.refused]
    lines += [f"Refused at intake: {visible(s.id)}: {visible(s.refused or '')}" for s in refused[:SHOWN]]
    if len(refused) > SHOWN:
        lines.append(f"Refused at intake: {len(refused) - SHOWN} more (see their rows in {gradebook.GRADES_FILE})")
    if missing:
        lines.append(f"Not graded yet: {len(missing)} student(s) ({_ids(missing, 10)}): "
                     "run without --student to grade them.")
    if errors:
        lines.append(f"The grader failed on {len(errors)} submission(s); details in {out / ERRORS_FILE}. "
                     "They are graded again on the next run.")
    lines += [f"Not written as it should be: {p}" for p in problems]
    lines.append(f"Wrote {out}/: {', '.join([FILE_NAME, *written])}")
    return "\n".join(lines)
