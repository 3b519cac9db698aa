"""Grading mutants: each one a submission of its single file, graded by the bulk engine in parallel.

A mutant is killed when any test of its exercise fails (or the grading of it timed out); it
survives when every test passes. A grader error is neither: it is reported, and counts as not killed.
"""
from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from grader.bulk.pool import Outcome, Pool
from grader.bulk.sources import Student
from grader.mutate.generate import Mutant, write
from grader.results import Status

KILLED, SURVIVED, ERROR = "killed", "survived", "error"


@dataclass
class Verdict:
    mutant: Mutant
    status: str                                         # killed, survived, error
    failed: list[str] = field(default_factory=list)     # the tests that killed it
    note: str = ""


def verdict(mutant: Mutant, outcome: Outcome) -> Verdict:
    result = outcome.result
    exercise = result.exercises.get(mutant.exercise)
    if result.status == "timed out":
        return Verdict(mutant, KILLED, ["(grading timed out)"])
    if exercise is None or not exercise.tests:
        return Verdict(mutant, ERROR, note=outcome.note or f"no result for {mutant.exercise}")
    errors = [t for t in exercise.tests if t.status is Status.GRADER_ERROR]
    if errors:
        return Verdict(mutant, ERROR, note="; ".join(f"{t.name}: {t.feedback[:200]}" for t in errors))
    failed = [t.name for t in exercise.tests if not t.passed]
    return Verdict(mutant, KILLED if failed else SURVIVED, failed)


def grade_mutants(mutants: Iterable[Mutant], jobs: int | None = None, timeout: float = 120.0,
                  on_verdict: Callable[[Verdict], None] | None = None) -> list[Verdict]:
    """Grade every mutant with the hidden suites, ``jobs`` at a time; verdicts in the mutants' order."""
    mutants = list(mutants)
    by_id = {m.id: m for m in mutants}
    verdicts: dict[str, Verdict] = {}
    with tempfile.TemporaryDirectory(prefix="brokerlab-mutants-") as tmp:
        students = [Student(m.id, write(m, Path(tmp) / m.id)) for m in mutants]

        def done(outcome: Outcome) -> None:
            got = verdict(by_id[outcome.student.id], outcome)
            verdicts[got.mutant.id] = got
            if on_verdict:
                on_verdict(got)

        with Pool(jobs=jobs, timeout=timeout) as pool:
            pool.run(students, done)
    return [verdicts[m.id] for m in mutants]
