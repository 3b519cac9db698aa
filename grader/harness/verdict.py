"""How a hidden test fails: with a sentence for the student, never as a grader error."""
from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

NOT_JSON: Any = object()  # what ``student_json`` gives for a body that holds no JSON
_UTC_Z = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?Z")


class Mistake(AssertionError):
    """A behaviour the contract excludes; its message is feedback for the student."""


class PreconditionBroken(Mistake):
    """The submission left the broker (or the database) without what the test needs next, e.g.
    create_queue created no queue: the test fails with that sentence, it is not the grader's fault."""


def expect(condition: object, feedback: str) -> None:
    """Fail the test with ``feedback`` (what the code did, in the course's terms) unless ``condition``."""
    if not condition:
        raise Mistake(feedback)


def student_json(text: str | bytes) -> Any:
    """The JSON a student's message body holds, or ``NOT_JSON``. Never raises, however the body is
    nested: json recurses, and a body of 100,000 brackets would otherwise end the test as a
    grader error."""
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return NOT_JSON


def utc_instant(value: object) -> dt.datetime | None:
    """The instant an ISO-8601 UTC timestamp ending in 'Z' names (``2024-01-15T09:30:00Z``,
    fractional seconds allowed), or None for anything else: a string that only has the shape
    (``2024-13-45T99:99:99Z``, another script's digits) is the student's mistake, never an error
    of the suite."""
    if not isinstance(value, str) or not _UTC_Z.fullmatch(value):
        return None
    try:
        return dt.datetime.fromisoformat(value[:-1] + "+00:00")
    except ValueError:
        return None
