"""How a hidden test fails: with a sentence for the student, never as a grader error."""
from __future__ import annotations


class Mistake(AssertionError):
    """A behaviour the contract excludes; its message is feedback for the student."""


class PreconditionBroken(Mistake):
    """The submission left the broker (or the database) without what the test needs next, e.g.
    create_queue created no queue: the test fails with that sentence, it is not the grader's fault."""


def expect(condition: object, feedback: str) -> None:
    """Fail the test with ``feedback`` (what the code did, in the course's terms) unless ``condition``."""
    if not condition:
        raise Mistake(feedback)
