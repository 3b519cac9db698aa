"""``brokerlab grade-all SOURCE --out OUTDIR``: grade a whole class into a gradebook, feedback and a report.

SOURCE is a folder whose every child folder or ``.zip`` is one student's submission (the name,
less ``.zip``, is the student id), or a ``.zip`` of such a folder. OUTDIR receives:

- ``results.jsonl``: each student's full result (also what makes a run resumable);
- ``grades.csv``: one row per student, sorted by id;
- ``feedback/<student_id>.md``: what each student gets back;
- ``report.html``: the class report, with plots;
- ``canvas.csv`` with ``--lms canvas``: the same totals as a Canvas gradebook import.

With ``--manual-scores FILE`` the points a person gave (free responses, regrades) are applied to
everything written from ``results.jsonl``, which itself keeps the automatic grading: changing the
file and running again updates the gradebook without grading anyone again.

A run grades only what is missing (or whose submission changed since it was graded); ``--student``
regrades just those students, ``--force`` regrades everyone. A broken submission gets its row,
its status and 0; it never stops the run.
"""
from __future__ import annotations

import argparse
import fcntl
import os
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from grader.bulk import gradebook
from grader.bulk.sources import Student, find_students
from grader.bulk.store import FILE_NAME, Record, Store, grader_digest, submission_digest, write_atomic
from grader.errors import UserError

HELP = "grade a whole class into a gradebook, feedback and a report"
REPORT_FILE = "report.html"
FEEDBACK_DIR = "feedback"
ERRORS_FILE = "grader-errors.log"
LMS = ("canvas",)
UNPACK_PREFIX = "brokerlab-class-"


def configure(parser: argparse.ArgumentParser) -> None:
    from grader.bulk.pool import DEFAULT_TIMEOUT, default_jobs

    parser.add_argument("source", type=Path, metavar="SOURCE",
                        help="a folder of submissions (one folder or .zip per student), a .zip of one, or an "
                             "nbgrader course (its submitted/<student>/<assignment>/ notebooks)")
    parser.add_argument("--assignment", metavar="NAME",
                        help="with an nbgrader course holding several assignments: the one to grade")
    parser.add_argument("--out", type=Path, required=True, metavar="OUTDIR", help="where to write the results")
    parser.add_argument("--jobs", "-j", type=int, metavar="N",
                        help=f"grade N submissions at once (default: the number of cores, {default_jobs()})")
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
        what = f"{student_id}: {status} {gradebook.number(score)}/{gradebook.number(max_score)}"
        if self.bar is not None:
            self.bar.update(self.task, advance=1, last=what)
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
        if record is None or record.fingerprint != fingerprints[s.id] or record.result.status == "grader error":
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


def write_outputs(out: Path, results: dict, args: argparse.Namespace, notes: list[str]) -> list[str]:
    """grades.csv, feedback/*.md, report.html and the LMS gradebook, from ``results``; their names."""
    from grader.render.markdown import to_markdown
    from grader.report.html import render as render_report

    written = []
    gradebook.write(out / gradebook.GRADES_FILE, gradebook.grades_csv(results))
    written.append(gradebook.GRADES_FILE)
    feedback = out / FEEDBACK_DIR
    feedback.mkdir(exist_ok=True)
    for student_id, result in results.items():
        write_atomic(feedback / f"{student_id}.md", to_markdown(result, student_id).encode("utf-8"))
    written.append(f"{FEEDBACK_DIR}/ ({len(results)} files)")
    write_atomic(out / REPORT_FILE, render_report(results, notes=notes).encode("utf-8"))
    written.append(REPORT_FILE)
    if args.lms == "canvas":
        data = gradebook.canvas_csv(results, args.canvas_assignment, args.canvas_assignment_id,
                                    args.canvas_id_field)
        gradebook.write(out / gradebook.CANVAS_FILE, data)
        written.append(gradebook.CANVAS_FILE)
    return written


def run(args: argparse.Namespace) -> int:
    from grader.bulk.pool import Pool, remove_stale

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

    remove_stale(Path(tempfile.gettempdir()), UNPACK_PREFIX)
    manual = None
    if args.manual_scores is not None:  # checked whole before anyone is graded: one typo stops the run now
        from grader.quiz.grading import read_manual_scores

        manual = read_manual_scores(args.manual_scores)
    with _locked(out), tempfile.TemporaryDirectory(prefix=f"{UNPACK_PREFIX}{os.getpid()}-") as unpack:
        from grader.integrations.nbgrader.submitted import write_students

        source = write_students(args.source, Path(unpack) / "nbgrader", args.assignment) or args.source
        klass = find_students(source, Path(unpack))
        for line in klass.ignored:
            print(f"brokerlab grade-all: ignored {line}", file=sys.stderr)
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
        grader_fp = grader_digest()
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
                if outcome.note and outcome.result.status == "grader error":
                    errors.append(f"{student.id}: {outcome.note}")
                progress.finished(student.id, outcome.result.status, outcome.result.score,
                                  outcome.result.max_score, outcome.seconds)

            try:
                with Pool(args.jobs, args.timeout) as pool:
                    pool.run(todo, done, on_tick=progress.tick)
            finally:
                progress.close()
        elapsed = time.monotonic() - started
        store.rewrite(records.values())

        results = {s.id: records[s.id].result for s in students if s.id in records}
        missing = sorted(ids - results.keys())
        notes = [f"{len(missing)} student(s) not graded yet: {', '.join(missing[:20])}"] if missing else []
        if manual is not None:
            results = with_manual_scores(results, args.manual_scores)
            strangers = sorted(set(manual) - ids)
            if strangers:
                print(f"brokerlab grade-all: {args.manual_scores} names students not in {args.source}: "
                      f"{', '.join(strangers[:10])}", file=sys.stderr)
            notes.append(f"Scores a person gave, from {args.manual_scores.name}, are included.")
        written = write_outputs(out, results, args, notes)
        if errors:
            with open(out / ERRORS_FILE, "a", encoding="utf-8") as fh:
                fh.write("".join(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {e}\n" for e in errors))

    statuses: dict[str, int] = {}
    for result in results.values():
        statuses[result.status] = statuses.get(result.status, 0) + 1
    counts = ", ".join(f"{n} {status}" for status, n in sorted(statuses.items()))
    skipped = len(students) - len(todo)
    rate = f", {elapsed / len(todo):.2f} s each" if todo else ""
    print(f"Graded {len(todo)} of {len(students)} students in {elapsed:.1f} s{rate}"
          + (f" ({skipped} already graded)" if skipped else "") + f". Results: {counts or 'none'}.")
    if missing:
        print(f"Not graded yet: {len(missing)} student(s) ({', '.join(missing[:10])}"
              f"{', ...' if len(missing) > 10 else ''}): run without --student to grade them.")
    if errors:
        print(f"The grader failed on {len(errors)} submission(s); details in {out / ERRORS_FILE}. "
              "They are graded again on the next run.")
    print(f"Wrote {out}/: {', '.join([FILE_NAME, *written])}")
    return 0
