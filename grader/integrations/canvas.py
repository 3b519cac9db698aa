"""Grades to Canvas through its REST API, without a CSV step: ``brokerlab lms push canvas OUTDIR``.

OUTDIR is a ``grade-all`` output folder: its ``results.jsonl`` is the graded class. Each student
gets a Canvas user id, a posted grade (their points, as Canvas takes a number) and a short
plain-text comment, and all of them go in one request: canvasapi's
``Assignment.submissions_bulk_update``, that is ``POST /api/v1/courses/:course_id/assignments/
:assignment_id/submissions/update_grades`` with ``grade_data[<user id>][posted_grade]`` and
``grade_data[<user id>][text_comment]``. Canvas applies it in a background job and answers with a
Progress, which is followed (``GET /api/v1/progress/:id``) until it is ``completed`` or ``failed``,
or until ``--wait`` runs out.

Ids: by default a student's id is their Canvas SIS user id and is sent in Canvas's own form,
``sis_user_id:<id>`` (``--id-field sis_login_id`` or ``id`` for the others); ``--id-map CSV``
names each student's Canvas id instead. Canvas grades every user it finds and then fails the job
if some were not, naming them ("Couldn't find User(s) with API ids ..."): those students are
reported as not found in Canvas and the others as updated.

The comment is built from the result model only: the total and each exercise's score, then one
line per test that did not pass (the feedback written for students, cut short). Never a test's
source, output or traceback, never a free response's rubric, and never a quiz question's
feedback, which holds its right answer.

The token is read from the environment and never printed; a dry run needs none and sends nothing.
"""
from __future__ import annotations

import csv
import ipaddress
import os
import re
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping
from urllib.parse import urlsplit

from grader.bulk.gradebook import full_max, number
from grader.bulk.store import FILE_NAME, Store
from grader.errors import UserError
from grader.results import Status, SubmissionResult

ID_FIELDS = ("sis_user_id", "sis_login_id", "id")
MAP_PREFIXES = ("sis_user_id:", "sis_login_id:", "sis_integration_id:")
MAP_COLUMNS = ("student_id", "canvas_user_id")
COMMENT_LIMIT = 1500  # characters: a summary, the full feedback is feedback/<id>.md
LINE_LIMIT = 200
POLL_DELAYS = (0.5, 1.0, 2.0, 3.0)  # seconds between progress queries; the last one repeats
HTTP_TIMEOUT = 60.0  # seconds for one request: canvasapi sets none, and would wait forever
DONE_STATES = ("completed", "failed")
NOT_FOUND = re.compile(r"Couldn't find User\(s\) with API ids (.*)", re.S)
GRADER_ERROR_LINE = "the grader failed on this test; this is not your fault"
STATUS_LINES = {
    "empty": "No exercise file or answers were found in your submission.",
    "unreadable": "Your submission could not be opened, so nothing in it was graded.",
    "timed out": "Grading your submission took too long and was stopped, so nothing in it was graded.",
}
WORDS = {Status.FAILED: "failed", Status.ERROR: "not graded", Status.TIMEOUT: "timed out",
         Status.NEEDS_GRADING: "waits for a person"}


@dataclass
class Grade:
    """What Canvas receives for one student."""

    student_id: str
    canvas_id: str
    posted_grade: str
    comment: str


@dataclass
class Plan:
    grades: list[Grade] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # student id -> why nothing is sent
    notes: list[str] = field(default_factory=list)


# -- the comment ---------------------------------------------------------------------------------------

def _line(text: str) -> str:
    first = " ".join((text or "").strip().splitlines()[:1]).strip()
    return first if len(first) <= LINE_LIMIT else first[:LINE_LIMIT - 1].rstrip() + "…"


def comment(result: SubmissionResult, title: str = "Broker Lab", out_of: float | None = None) -> str:
    """The feedback comment: a summary a student reads in Canvas next to the grade.

    ``out_of`` is the class's full maximum (what the gradebook counts the grade out of), which is more
    than the student's own when they answered fewer quizzes than others.
    """
    scores = ", ".join(f"{key} {number(e.score)}/{number(e.max_score)}" for key, e in result.exercises.items())
    total = number(result.max_score if out_of is None else max(out_of, result.max_score))
    head = f"{title}: {number(result.score)}/{total}" + (f" ({scores})" if scores else "")
    lines = [head]
    if result.status == "grader error":
        lines.append("The grader failed on your submission. This is not your fault: your instructor has been told.")
    elif result.status in STATUS_LINES:
        lines.append(STATUS_LINES[result.status])
    tests = [t for e in result.exercises.values() for t in e.tests]
    reasons = {e.feedback for e in result.exercises.values()}
    if result.status not in ("ok", "empty") and len(reasons) == 1 and tests and \
            all(t.status is Status.ERROR for t in tests):
        lines.append(f"Why: {_line(reasons.pop())}")
        return "\n".join(lines)

    todo: list[str] = []
    for key, exercise in result.exercises.items():
        blanket = exercise.feedback and exercise.tests and all(t.status is Status.ERROR for t in exercise.tests)
        if exercise.feedback:
            todo.append(f"- {key}: {_line(exercise.feedback)}")
        if exercise.kind == "quiz":  # a question's feedback holds its answer: only how many are left
            pending = sum(t.status is Status.NEEDS_GRADING for t in exercise.tests)
            wrong = sum(t.status is not Status.PASSED and t.status is not Status.NEEDS_GRADING
                        for t in exercise.tests)
            if wrong and not blanket:
                todo.append(f"- {key}: {wrong} of {len(exercise.tests)} questions without full marks")
            if pending:
                todo.append(f"- {key}: {pending} answer(s) wait for a person to grade them")
            continue
        if blanket:
            continue
        for test in exercise.tests:
            if test.status is Status.PASSED:
                continue
            if test.status is Status.GRADER_ERROR:
                text = GRADER_ERROR_LINE
            else:
                text = _line(test.feedback) or WORDS.get(test.status, test.status.value)
            todo.append(f"- {key}, {test.name} ({number(test.score)}/{number(test.max_score)}): {text}")
    if todo:
        lines += ["", "To look at:"]
        used = sum(len(line) + 1 for line in lines)
        for i, line in enumerate(todo):
            room = COMMENT_LIMIT if i == len(todo) - 1 else COMMENT_LIMIT - 40  # 40: the "... more" line
            if used + len(line) + 1 > room:
                lines.append(f"... and {len(todo) - i} more (see your full feedback)")
                break
            lines.append(line)
            used += len(line) + 1
    return "\n".join(lines)


# -- who is who in Canvas --------------------------------------------------------------------------------

def _good_key(canvas_id: str) -> bool:
    """An id Canvas can read back out of ``grade_data[<id>][...]``: no brackets, no blanks at its ends."""
    return bool(canvas_id) and canvas_id == canvas_id.strip() and "[" not in canvas_id and "]" not in canvas_id


def canvas_id_of(student_id: str, id_field: str) -> str | None:
    """The student's Canvas API id when the student id is itself a Canvas id (``--id-field``)."""
    if id_field == "id":
        return student_id if student_id.isdigit() else None
    candidate = f"{id_field}:{student_id}"
    return candidate if _good_key(student_id) else None


def read_id_map(path: Path) -> dict[str, str]:
    """``student_id,canvas_user_id`` rows: a Canvas user id, or ``sis_user_id:...``/``sis_login_id:...``."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise UserError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: cannot read it ({exc})") from None
    reader = csv.reader(text.splitlines())
    header = next(reader, None)
    if header is None or [h.strip() for h in header[:2]] != list(MAP_COLUMNS):
        raise UserError(f"{path}: the first line must be '{','.join(MAP_COLUMNS)}'")
    mapping: dict[str, str] = {}
    owner: dict[str, str] = {}
    for line, row in enumerate(reader, start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) < 2 or not row[0].strip() or not row[1].strip():
            raise UserError(f"{path}:{line}: give a student id and a Canvas user id")
        student, canvas = row[0].strip(), row[1].strip()
        if not (canvas.isdigit() or (canvas.startswith(MAP_PREFIXES) and _good_key(canvas.split(":", 1)[1]))):
            raise UserError(f"{path}:{line}: {canvas!r} is not a Canvas user id (a number, or "
                            f"{', '.join(p + '...' for p in MAP_PREFIXES)})")
        if student in mapping:
            raise UserError(f"{path}:{line}: {student} is mapped twice")
        if canvas in owner:
            raise UserError(f"{path}:{line}: {canvas} is already {owner[canvas]}'s; one would overwrite the other")
        mapping[student] = canvas
        owner[canvas] = student
    return mapping


def make_plan(results: Mapping[str, SubmissionResult], id_field: str = "sis_user_id",
              id_map: Mapping[str, str] | None = None, map_name: str = "the id map",
              title: str = "Broker Lab", out_of: float | None = None) -> Plan:
    """Each student's grade and comment, or why that student cannot be sent."""
    plan = Plan()
    out_of = full_max(results) if out_of is None else out_of
    for student_id in sorted(results):
        result = results[student_id]
        if result.status == "grader error":
            plan.skipped[student_id] = "the grader failed on this submission: grade it again first"
            continue
        if id_map is not None:
            canvas = id_map.get(student_id)
            if canvas is None:
                plan.skipped[student_id] = f"not in {map_name}"
                continue
        else:
            canvas = canvas_id_of(student_id, id_field)
            if canvas is None:
                why = "not a number" if id_field == "id" else "has a bracket or blank at its ends"
                plan.skipped[student_id] = f"the id cannot be a Canvas {id_field} ({why}): give --id-map"
                continue
        plan.grades.append(Grade(student_id, canvas, number(result.score), comment(result, title, out_of)))
    pending = [g.student_id for g in plan.grades
               if any(t.status is Status.NEEDS_GRADING for e in results[g.student_id].exercises.values()
                      for t in e.tests)]
    if pending:
        plan.notes.append(f"{len(pending)} student(s) have free responses waiting for a person "
                          f"({', '.join(pending[:5])}{', ...' if len(pending) > 5 else ''}): their grade leaves "
                          "those points out (give --manual-scores)")
    if id_map is not None:
        strangers = sorted(set(id_map) - set(results))
        if strangers:
            plan.notes.append(f"{map_name} names {len(strangers)} student(s) not in {FILE_NAME}: "
                              f"{', '.join(strangers[:5])}{', ...' if len(strangers) > 5 else ''}")
    return plan


def load_results(outdir: Path) -> dict[str, SubmissionResult]:
    store = Store(outdir / FILE_NAME)
    if not store.path.is_file():
        raise UserError(f"{outdir}: no {FILE_NAME} there; run 'brokerlab grade-all SOURCE --out {outdir}' first")
    records = store.load()
    if store.dropped:
        print(f"brokerlab lms: {store.dropped} unreadable line(s) in {store.path} were left out", file=sys.stderr)
    if not records:
        raise UserError(f"{store.path}: no student in it")
    return {student_id: record.result for student_id, record in records.items()}


# -- sending -------------------------------------------------------------------------------------------

def check_url(url: str) -> str:
    """The Canvas base URL; plain http only to this machine, where a token cannot be overheard."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UserError(f"--url {url!r}: give the Canvas address, e.g. https://canvas.example.edu")
    if "/api/v1" in parts.path:
        raise UserError(f"--url {url!r}: give the Canvas address without /api/v1")
    if parts.scheme == "http" and not _loopback(parts.hostname):
        raise UserError(f"--url {url!r}: use https; over plain http the token could be read on the way")
    return url.strip().rstrip("/")


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _scrub(text: str, token: str) -> str:
    return text.replace(token, "***") if token else text


def _describe(exc: Exception, token: str) -> str:
    """One short line for a failed request: requests' own messages run to several nested reprs."""
    from requests import ConnectionError, Timeout

    if isinstance(exc, Timeout):
        return f"no answer within {number(HTTP_TIMEOUT)} s"
    if isinstance(exc, ConnectionError):
        errno = re.search(r"\[Errno -?\d+\] ([^'\")\]]+)", str(exc))
        return f"cannot reach it ({errno.group(1).strip() if errno else type(exc).__name__})"
    return _scrub(str(exc), token) or type(exc).__name__


def _session_with_timeout(requester: Any, seconds: float) -> None:
    """Give every request canvasapi makes a time limit (it sets none)."""
    from requests.adapters import HTTPAdapter

    class TimeoutAdapter(HTTPAdapter):
        def send(self, request, **kwargs):  # type: ignore[no-untyped-def, override]
            if kwargs.get("timeout") is None:
                kwargs["timeout"] = seconds
            return super().send(request, **kwargs)

    for prefix in ("http://", "https://"):
        requester._session.mount(prefix, TimeoutAdapter())


def follow(progress: Any, wait: float, say: Callable[[str], None]) -> Any:
    """Query a Progress until it is completed or failed, or ``wait`` seconds have passed."""
    deadline = time.monotonic() + wait
    shown = None
    polls = 0
    while True:
        state = getattr(progress, "workflow_state", None)
        completion = getattr(progress, "completion", None)
        if (state, completion) != shown:
            say(f"Canvas: {state}" + (f" {number(completion)}%" if completion is not None else ""))
            shown = (state, completion)
        left = deadline - time.monotonic()
        if state in DONE_STATES or left <= 0:
            return progress
        time.sleep(min(POLL_DELAYS[min(polls, len(POLL_DELAYS) - 1)], left))
        polls += 1
        progress = progress.query()


def not_found_ids(message: str) -> list[str] | None:
    """The API ids a failed bulk update names as not found, or None when it failed for another reason."""
    match = NOT_FOUND.search(message or "")
    return re.findall(r"'([^']*)'", match.group(1)) if match else None


@dataclass
class Outcome:
    ok: bool
    per_student: dict[str, str]  # student id -> what happened
    summary: str


def send(grades: list[Grade], url: str, course_id: str, assignment_id: str, token: str, wait: float,
         say: Callable[[str], None], out_of: float | None = None) -> Outcome:
    """The bulk update, its Progress followed; what happened to each student."""
    try:
        from canvasapi.course import Course
        from canvasapi.exceptions import CanvasException, InvalidAccessToken, ResourceDoesNotExist, Unauthorized
        from canvasapi.requester import Requester
        from requests import RequestException
    except ImportError:
        raise UserError("pushing to Canvas needs canvasapi: pip install 'brokerlab[lms]'") from None

    with warnings.catch_warnings():  # canvasapi warns of http://, which check_url allows only to loopback
        warnings.simplefilter("ignore")
        requester = Requester(url, token)
    _session_with_timeout(requester, HTTP_TIMEOUT)

    try:
        course = Course(requester, requester.request("GET", f"courses/{course_id}").json())
        assignment = course.get_assignment(assignment_id)
    except (InvalidAccessToken, Unauthorized):
        raise UserError(f"{url}: Canvas refused the token (is it expired, or not allowed in this course?)") from None
    except ResourceDoesNotExist:
        raise UserError(f"{url}: no course {course_id} with an assignment {assignment_id} "
                        "that this token can see") from None
    except (CanvasException, RequestException, ValueError) as exc:
        raise UserError(f"{url}: {_describe(exc, token)}") from None

    possible = getattr(assignment, "points_possible", None)
    say(f"Canvas: course {getattr(course, 'name', course_id)!s} ({course_id}), "
        f"assignment {getattr(assignment, 'name', assignment_id)!s} ({assignment_id}"
        + (f", out of {number(possible)} points)" if possible is not None else ")"))
    if possible is not None and out_of is not None and round(float(possible), 4) != round(out_of, 4):
        say(f"Note: the Canvas assignment is out of {number(possible)} points, these grades out of {number(out_of)}; "
            "Canvas takes each grade as points of its own total")
    if not getattr(assignment, "published", True):
        raise UserError(f"assignment {assignment_id} is not published: Canvas grades only published assignments")

    grade_data = {g.canvas_id: {"posted_grade": g.posted_grade, "text_comment": g.comment} for g in grades}
    say(f"Sending {len(grades)} grade(s) and comment(s) ...")
    try:
        progress = assignment.submissions_bulk_update(grade_data=grade_data)
    except (InvalidAccessToken, Unauthorized):
        raise UserError(f"{url}: Canvas refused to take grades with this token (it needs to manage grades)") from None
    except (CanvasException, RequestException, ValueError) as exc:
        raise UserError(f"{url}: the grades were not accepted: {_describe(exc, token)}") from None

    try:
        progress = follow(progress, wait, say)
    except (CanvasException, RequestException, ValueError) as exc:
        why = _describe(exc, token)
        return Outcome(False, {g.student_id: "sent, not confirmed" for g in grades},
                       f"Canvas took the grades, but following its progress failed ({why}); check the gradebook")

    state = getattr(progress, "workflow_state", None)
    where = getattr(progress, "url", None) or f"{url}/api/v1/progress/{getattr(progress, 'id', '?')}"
    if state == "completed":
        return Outcome(True, {g.student_id: "updated" for g in grades}, f"Canvas updated all {len(grades)}.")
    if state == "failed":
        message = _scrub(str(getattr(progress, "message", "") or ""), token)
        missing = not_found_ids(message)
        if missing is not None:
            gone = set(missing)
            per = {g.student_id: "not found in Canvas" if g.canvas_id in gone else "updated" for g in grades}
            lost = sum(v != "updated" for v in per.values())
            return Outcome(False, per, f"Canvas updated {len(grades) - lost} and found no user for {lost}: "
                                       "check their ids (--id-field, --id-map).")
        return Outcome(False, {g.student_id: "failed" for g in grades},
                       f"Canvas failed the update: {message or 'no reason given'} ({where})")
    return Outcome(False, {g.student_id: "sent, not confirmed" for g in grades},
                   f"Canvas was still {state} after {number(wait)} s; see {where} or the gradebook later")


# -- the command ---------------------------------------------------------------------------------------

def _table(rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    return ["  " + "  ".join(cell.ljust(w) for cell, w in zip(r, widths)) + "  " + r[-1] for r in rows]


def push(args: Any) -> int:
    """``brokerlab lms push canvas``: exit 0 only when every student's grade reached Canvas."""
    if not args.course.isdigit() or not args.assignment.isdigit():
        raise UserError("--course and --assignment take Canvas's numeric ids (in the course's address)")
    if args.wait <= 0:
        raise UserError("--wait must be more than 0 seconds")
    url = check_url(args.url)
    token = ""
    if not args.dry_run:
        token = os.environ.get(args.token_env, "").strip()
        if not token:
            raise UserError(f"{args.token_env} is not set: put a Canvas access token in it "
                            "(Account > Settings > New access token), or name another variable with --token-env")

    results = load_results(args.outdir)
    out_of = full_max(results)
    if args.student:
        unknown = [s for s in args.student if s not in results]
        if unknown:
            raise UserError(f"{args.outdir / FILE_NAME} has no student {', '.join(map(repr, unknown))}")
        results = {s: results[s] for s in args.student}
    if args.manual_scores is not None:
        from grader.bulk.command import with_manual_scores
        from grader.quiz.grading import read_manual_scores

        read_manual_scores(args.manual_scores)  # the whole file checked before anything is sent
        results = with_manual_scores(results, args.manual_scores)
    id_map = read_id_map(args.id_map) if args.id_map is not None else None
    plan = make_plan(results, args.id_field, id_map, str(args.id_map) if args.id_map else "the id map", args.title,
                     out_of)
    for note in plan.notes:
        print(f"Note: {note}.")

    endpoint = f"{url}/api/v1/courses/{args.course}/assignments/{args.assignment}/submissions/update_grades"
    if args.dry_run:
        print(f"Dry run: nothing was sent. It would POST {len(plan.grades)} grade(s), points out of "
              f"{number(out_of)}, to {endpoint}:")
        if plan.grades:
            print("\n".join(_table([("student", "canvas user id", "grade", "comment (first line)"),
                                    *[(g.student_id, g.canvas_id, g.posted_grade, g.comment.splitlines()[0])
                                      for g in plan.grades]])))
        _print_skipped(plan)
        return 0

    outcome = Outcome(True, {}, "Nothing to send.")
    if plan.grades:
        def say(line: str) -> None:
            print(_scrub(line, token), file=sys.stderr, flush=True)

        outcome = send(plan.grades, url, args.course, args.assignment, token, args.wait, say, out_of)
        print("\n".join(_table([("student", "canvas user id", "grade", "result"),
                                *[(g.student_id, g.canvas_id, g.posted_grade, outcome.per_student[g.student_id])
                                  for g in plan.grades]])))
    _print_skipped(plan)
    updated = sum(v == "updated" for v in outcome.per_student.values())
    print(_scrub(f"{outcome.summary} Updated {updated} of {len(results)} student(s)"
                 + (f"; {len(plan.skipped)} not sent." if plan.skipped else "."), token))
    return 0 if outcome.ok and not plan.skipped else 1


def _print_skipped(plan: Plan) -> None:
    if plan.skipped:
        print(f"Not sent ({len(plan.skipped)} student(s)):")
        for student_id, why in plan.skipped.items():
            print(f"  {student_id}: {why}")
