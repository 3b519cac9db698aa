"""How the class did, as numbers: pure functions of the students' results.

- ``summary``: how many students, by status, and the totals' mean, median, spread;
- ``distribution``: the totals as a histogram over 0..100 % of the full maximum;
- ``test_pass_rates``: for every hidden test, the share of students whose code passed it, among
  those whose code for that exercise could be run (a missing file says nothing about a test);
- ``quiz_items``: for every quiz question, its difficulty (the share who got it right) and its
  discrimination, two ways: the upper-lower index (share right among the top 27 % of the class by
  total score, less the share among the bottom 27 %) and the point-biserial correlation of the
  question's credit with the rest of the student's score (total less that question);
- ``common_failures`` / ``concept_failures``: the hidden tests failed most often, with the
  concept each names, and the same counted by concept;
- ``students``: each student's total, exercise and quiz scores, share of the points earned per
  concept and weakest concepts, lowest total first (who needs help);
- ``concepts``: every concept a test or question names, the class's weakest first.

A free response waiting for a person is pending: it is no verdict, so it counts in no difficulty,
pass rate or concept share, and is counted as pending where a student or a question is shown.
"""
from __future__ import annotations

import math
import statistics
from collections import Counter
from dataclasses import dataclass, field
from typing import Mapping

from grader.results import Status, SubmissionResult

FAILED = (Status.FAILED, Status.TIMEOUT)
NO_VERDICT = (Status.ERROR, Status.NEEDS_GRADING, Status.GRADER_ERROR)
UPPER_LOWER = 0.27
WEAKEST = 3


@dataclass
class Summary:
    students: int
    by_status: dict[str, int]
    max_total: float
    mean: float | None
    median: float | None
    stdev: float | None
    lowest: float | None
    highest: float | None
    exercise_means: dict[str, tuple[float, float]] = field(default_factory=dict)  # key -> (mean, max)


@dataclass
class TestStat:
    exercise: str
    name: str
    concept: str | None
    max_score: float
    attempted: int
    passed: int

    @property
    def pass_rate(self) -> float | None:
        return self.passed / self.attempted if self.attempted else None

    @property
    def failed(self) -> int:
        return self.attempted - self.passed


@dataclass
class FailureStat:
    exercise: str
    name: str
    concept: str | None
    failed: int
    attempted: int


@dataclass
class ItemStat:
    quiz: str
    question: str
    name: str
    concept: str | None
    answered: int
    right: int
    upper_lower: float | None
    point_biserial: float | None
    pending: int = 0  # answers waiting for a person: in no statistic above

    @property
    def difficulty(self) -> float | None:
        """The share of students who got it right (the classical item 'p value')."""
        return self.right / self.answered if self.answered else None


def _full_max(results: Mapping[str, SubmissionResult]) -> float:
    from grader.bulk.gradebook import full_max

    return full_max(results)


def summary(results: Mapping[str, SubmissionResult]) -> Summary:
    totals = [results[k].score for k in sorted(results)]
    by_status = dict(sorted(Counter(r.status for r in results.values()).items()))
    means: dict[str, tuple[float, float]] = {}
    from grader.bulk.gradebook import column_maxima, columns

    cols = columns(results)
    maxima = column_maxima(results, cols)
    for c in cols:
        scores = [r.exercises[c].score if c in r.exercises else 0.0 for r in results.values()]
        means[c] = (round(statistics.fmean(scores), 4) if scores else 0.0, maxima[c])
    return Summary(
        students=len(results), by_status=by_status, max_total=_full_max(results),
        mean=round(statistics.fmean(totals), 4) if totals else None,
        median=round(statistics.median(totals), 4) if totals else None,
        stdev=round(statistics.pstdev(totals), 4) if totals else None,
        lowest=min(totals) if totals else None, highest=max(totals) if totals else None,
        exercise_means=means,
    )


def distribution(results: Mapping[str, SubmissionResult], bins: int = 10) -> list[tuple[float, float, int]]:
    """(from %, to %, students) for ``bins`` equal bins over 0..100 % of the full maximum; 100 % is in the last."""
    top = _full_max(results)
    counts = [0] * bins
    for result in results.values():
        share = result.score / top if top else 0.0
        index = min(bins - 1, max(0, int(math.floor(share * bins + 1e-9))))
        counts[index] += 1
    width = 100 / bins
    return [(round(i * width, 4), round((i + 1) * width, 4), counts[i]) for i in range(bins)]


def test_pass_rates(results: Mapping[str, SubmissionResult]) -> list[TestStat]:
    """Every hidden test, in the suites' order, with how many students' code ran it and passed it."""
    stats: dict[tuple[str, str], TestStat] = {}
    for student_id in sorted(results):
        for key, exercise in results[student_id].exercises.items():
            if exercise.kind != "code":
                continue
            for test in exercise.tests:
                stat = stats.get((key, test.name))
                if stat is None:
                    stat = stats[(key, test.name)] = TestStat(key, test.name, test.concept, test.max_score, 0, 0)
                if test.status in NO_VERDICT:
                    continue
                stat.attempted += 1
                stat.passed += test.status is Status.PASSED
    return list(stats.values())


def common_failures(results: Mapping[str, SubmissionResult], top: int = 10) -> list[FailureStat]:
    """The hidden tests failed by most students (failed or timed out; not those that could not run)."""
    failures = []
    for stat in test_pass_rates(results):
        if stat.failed:
            failures.append(FailureStat(stat.exercise, stat.name, stat.concept, stat.failed, stat.attempted))
    failures.sort(key=lambda f: (-f.failed, f.exercise, f.name))
    return failures[:top]


def concept_failures(results: Mapping[str, SubmissionResult]) -> list[tuple[str, int, int]]:
    """(concept, failures, attempts) over all hidden tests naming it, most failed first."""
    totals: dict[str, list[int]] = {}
    for stat in test_pass_rates(results):
        if not stat.concept:
            continue
        entry = totals.setdefault(stat.concept, [0, 0])
        entry[0] += stat.failed
        entry[1] += stat.attempted
    rows = [(concept, f, a) for concept, (f, a) in totals.items()]
    rows.sort(key=lambda r: (-(r[1] / r[2] if r[2] else 0), -r[1], r[0]))
    return rows


def _point_biserial(item: list[float], rest: list[float]) -> float | None:
    if len(item) < 3:
        return None
    try:
        r = statistics.correlation(item, rest)
    except statistics.StatisticsError:  # no spread in one of them
        return None
    return round(r, 4)


def quiz_items(results: Mapping[str, SubmissionResult]) -> list[ItemStat]:
    """Difficulty and discrimination of every quiz question answered by at least one student."""
    # (quiz, question name) -> [(student total, credit 0..1, right?, item score)]
    answers: dict[tuple[str, str], list[tuple[float, str, float, bool, float]]] = {}
    meta: dict[tuple[str, str], str | None] = {}
    pending: Counter[tuple[str, str]] = Counter()
    for student_id in sorted(results):
        result = results[student_id]
        for key, exercise in result.exercises.items():
            if exercise.kind != "quiz":
                continue
            for test in exercise.tests:
                if test.status is Status.NEEDS_GRADING:
                    pending[(key, test.name)] += 1
                    answers.setdefault((key, test.name), [])
                    meta[(key, test.name)] = test.concept
                if test.status in NO_VERDICT or test.max_score <= 0:
                    continue
                credit = test.score / test.max_score
                answers.setdefault((key, test.name), []).append(
                    (result.score, student_id, credit, test.status is Status.PASSED, test.score))
                meta[(key, test.name)] = test.concept
    items = []
    for (quiz, name), rows in answers.items():
        n = len(rows)
        right = sum(1 for r in rows if r[3])
        ordered = sorted(rows, key=lambda r: (r[0], r[1]))  # by total, ties by id: deterministic
        group = max(1, round(UPPER_LOWER * n))
        upper_lower = None
        if n >= 2 and 2 * group <= n:
            low = sum(r[2] for r in ordered[:group]) / group
            high = sum(r[2] for r in ordered[-group:]) / group
            upper_lower = round(high - low, 4)
        biserial = _point_biserial([r[2] for r in rows], [r[0] - r[4] for r in rows])
        items.append(ItemStat(quiz, name.split(":", 1)[0].strip(), name, meta[(quiz, name)], n, right,
                              upper_lower, biserial, pending[(quiz, name)]))
    return items


@dataclass
class ConceptShare:
    """What one student (or the class) earned of the points of the tests naming one concept."""

    earned: float = 0.0
    possible: float = 0.0  # of the tests and questions with a verdict
    pending: int = 0

    @property
    def share(self) -> float | None:
        return self.earned / self.possible if self.possible else None

    def add(self, status: Status, score: float, max_score: float) -> None:
        if status is Status.NEEDS_GRADING:
            self.pending += 1
        elif status not in NO_VERDICT and max_score > 0:
            self.earned += score
            self.possible += max_score


@dataclass
class StudentStat:
    student: str
    status: str
    total: float
    max_total: float
    scores: dict[str, float]  # gradebook column -> score
    concepts: dict[str, ConceptShare]
    pending: int  # free responses waiting for a person

    @property
    def weakest(self) -> list[tuple[str, float]]:
        """Up to ``WEAKEST`` concepts with points lost, the lowest share first."""
        lost = [(c, cs.share, cs.possible - cs.earned) for c, cs in self.concepts.items()
                if cs.share is not None and cs.share < 1]
        lost.sort(key=lambda x: (x[1], -x[2], x[0]))
        return [(c, share) for c, share, _ in lost[:WEAKEST]]


def _concept_shares(result: SubmissionResult) -> dict[str, ConceptShare]:
    shares: dict[str, ConceptShare] = {}
    for exercise in result.exercises.values():
        for test in exercise.tests:
            if test.concept:
                shares.setdefault(test.concept, ConceptShare()).add(test.status, test.score, test.max_score)
    return shares


def students(results: Mapping[str, SubmissionResult]) -> list[StudentStat]:
    """Every student, lowest total first (ties by id): the ones who need help at the top."""
    from grader.bulk.gradebook import columns

    cols = columns(results)
    top = _full_max(results)
    rows = []
    for student_id, result in results.items():
        scores = {c: result.exercises[c].score if c in result.exercises else 0.0 for c in cols}
        waiting = sum(1 for e in result.exercises.values() for t in e.tests if t.status is Status.NEEDS_GRADING)
        rows.append(StudentStat(student_id, result.status, result.score, top, scores, _concept_shares(result),
                                waiting))
    rows.sort(key=lambda r: (r.total, r.student))
    return rows


def concepts(results: Mapping[str, SubmissionResult]) -> list[tuple[str, ConceptShare]]:
    """Every concept any test or question names with the class's share of its points, weakest first."""
    totals: dict[str, ConceptShare] = {}
    for result in results.values():
        for concept, share in _concept_shares(result).items():
            total = totals.setdefault(concept, ConceptShare())
            total.earned += share.earned
            total.possible += share.possible
            total.pending += share.pending
    return sorted(totals.items(), key=lambda kv: (kv[1].share if kv[1].share is not None else 2.0, kv[0]))
