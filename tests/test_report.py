"""The class report: its numbers (pure functions of the results) and the self-contained page."""
from __future__ import annotations

import base64
import re

import pytest

from grader.report import stats
from grader.report.html import render
from grader.results import ExerciseResult, Status, SubmissionResult, TestResult

P, F, E, T = Status.PASSED, Status.FAILED, Status.ERROR, Status.TIMEOUT


def code(*outcomes: Status, points: float = 5.0, concept: str = "acknowledgements") -> ExerciseResult:
    return ExerciseResult(tests=[
        TestResult(name=f"t{i}", score=points if s is P else 0.0, max_score=points, status=s, concept=concept)
        for i, s in enumerate(outcomes)])


def quiz(*right: bool | None) -> ExerciseResult:
    tests = []
    for i, r in enumerate(right):
        status = Status.NEEDS_GRADING if r is None else (P if r else F)
        tests.append(TestResult(name=f"q{i + 1}: Question {i + 1}", score=1.0 if r else 0.0, max_score=1.0,
                                status=status, concept=f"concept {i + 1}"))
    return ExerciseResult(kind="quiz", tests=tests)


def student(producer: ExerciseResult, checkpoint: ExerciseResult | None = None, status: str = "ok") -> SubmissionResult:
    exercises = {"producer": producer}
    if checkpoint is not None:
        exercises["checkpoint"] = checkpoint
    return SubmissionResult(exercises=exercises, status=status)


@pytest.fixture
def klass() -> dict[str, SubmissionResult]:
    # q1 separates strong from weak, q2 everyone gets, q3 only the weak get (a bad question)
    return {
        "s1": student(code(P, P, P, P), quiz(True, True, False)),    # 4*5 + 2 = 22
        "s2": student(code(P, P, P, F), quiz(True, True, False)),    # 17
        "s3": student(code(P, P, F, F), quiz(True, True, False)),    # 12
        "s4": student(code(P, F, F, T), quiz(False, True, True)),    # 7
        "s5": student(code(F, F, F, F), quiz(False, True, True)),    # 2
        "s6": student(code(E, E, E, E), None, status="empty"),        # nothing ran
        "s7": student(code(P, P, P, P), quiz(True, True, None)),     # q3 waits for a person
    }


def test_pass_rates_count_only_code_that_ran(klass):
    rates = {t.name: (t.passed, t.attempted) for t in stats.test_pass_rates(klass)}
    assert rates == {"t0": (5, 6), "t1": (4, 6), "t2": (3, 6), "t3": (2, 6)}
    assert [t.name for t in stats.test_pass_rates(klass)] == ["t0", "t1", "t2", "t3"]


def test_common_failures_most_failed_first_with_concepts(klass):
    failures = stats.common_failures(klass, top=2)
    assert [(f.name, f.failed, f.attempted, f.concept) for f in failures] == \
        [("t3", 4, 6, "acknowledgements"), ("t2", 3, 6, "acknowledgements")]
    assert stats.concept_failures(klass) == [("acknowledgements", 10, 24)]


def test_quiz_difficulty_and_discrimination(klass):
    items = {i.question: i for i in stats.quiz_items(klass)}
    q1, q2, q3 = items["q1"], items["q2"], items["q3"]
    assert (q1.answered, q1.right, q1.difficulty) == (6, 4, pytest.approx(4 / 6))
    assert q2.difficulty == 1.0 and q2.upper_lower == 0.0 and q2.point_biserial is None  # no spread
    assert q3.answered == 5  # the one waiting for a person has no verdict yet
    assert q1.upper_lower == 1.0 and q1.point_biserial > 0.8
    assert q3.upper_lower == -1.0 and q3.point_biserial < -0.8


def test_distribution_puts_a_full_score_in_the_last_bin():
    results = {"a": student(code(P, P)), "b": student(code(P, F)), "c": student(code(F, F))}
    bins = stats.distribution(results, bins=4)
    assert bins == [(0, 25, 1), (25, 50, 0), (50, 75, 1), (75, 100, 1)]
    summary = stats.summary(results)
    assert (summary.students, summary.max_total, summary.mean, summary.highest) == (3, 10.0, 5.0, 10.0)


def test_the_page_is_self_contained_with_png_plots(klass):
    klass["<script>"] = student(code(F, F, F, F))
    html = render(klass)
    images = re.findall(r'<img alt="" src="data:image/png;base64,([A-Za-z0-9+/=]+)">', html)
    assert len(images) == 4  # distribution, pass rates, quiz items, failures
    assert all(base64.b64decode(data).startswith(b"\x89PNG") for data in images)
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "src=\"http" not in html and "<link" not in html
    for text in ("t3", "acknowledgements", "q1: Question 1", "Score distribution", "discrimination"):
        assert text in html


def test_an_empty_class_still_renders():
    html = render({})
    assert "0 students" in html and "No student answered a quiz" in html
