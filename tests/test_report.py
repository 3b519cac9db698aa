"""The class report: its numbers (pure functions of the results) and the self-contained page."""
from __future__ import annotations

import base64
import hashlib
import re
import shutil
import subprocess
from html.parser import HTMLParser

from urllib.parse import quote

import pytest

from grader.paths import EXERCISE_FILES
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
    assert html.count("<script") == 1 and "&lt;script&gt;" in html  # the page's own sorting only
    assert "src=\"http" not in html and "<link" not in html and " src=\"" not in html.replace('src="data:', "")
    script = re.search(r"<script>(.*?)</script>", html, re.S).group(1)
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    assert f"script-src 'sha256-{digest}'" in html and "default-src 'none'" in html  # nothing else may run
    for text in ("t3", "acknowledgements", "q1: Question 1", "Score distribution", "discrimination"):
        assert text in html


def test_an_empty_class_still_renders():
    html = render({})
    assert "0 students" in html and "No student answered a quiz" in html


class _Rows(HTMLParser):
    """The rows of one table of the page (by id): each row's cells' text, and the links in it."""

    def __init__(self, table_id: str) -> None:
        super().__init__()
        self.table_id, self.inside, self.depth = table_id, False, 0
        self.header: list[dict] = []
        self.rows: list[list[str]] = []
        self.links: list[str] = []
        self.section = ""

    def handle_starttag(self, tag: str, attrs: list) -> None:
        attrs = dict(attrs)
        if tag == "table" and attrs.get("id") == self.table_id:
            self.inside = True
        if not self.inside:
            return
        if tag in ("thead", "tbody"):
            self.section = tag
        elif tag == "tr" and self.section == "tbody":
            self.rows.append([])
        elif tag == "th" and self.section == "thead":
            self.header.append(attrs)
        elif tag == "td" and self.section == "tbody":
            self.rows[-1].append("")
        elif tag == "a" and self.section == "tbody":
            self.links.append(attrs["href"])

    def handle_endtag(self, tag: str) -> None:
        if tag == "table" and self.inside:
            self.inside = False

    def handle_data(self, data: str) -> None:
        if self.inside and self.section == "tbody" and self.rows and self.rows[-1]:
            self.rows[-1][-1] += data


def table(html: str, table_id: str) -> _Rows:
    parser = _Rows(table_id)
    parser.feed(html)
    return parser


def test_students_table_puts_who_needs_help_first_with_a_breakdown_and_their_feedback(klass):
    """Which students need help: lowest total first, every exercise and quiz, the concepts they
    lost most, what waits for a person, and one click to what they were told."""
    html = render(klass, feedback={k: f"feedback/{k}.md" for k in klass})
    students = table(html, "students")
    keys = [h["data-key"] for h in students.header]
    assert keys == ["student", "total", *EXERCISE_FILES, "checkpoint", "pending", "status", "weakest"]
    col = {key: i for i, key in enumerate(keys)}
    ids = [row[0] for row in students.rows]
    totals = [float(row[1]) for row in students.rows]
    assert totals == sorted(totals) and ids[:2] == ["s6", "s5"]  # s6 handed in nothing, s5 failed all
    assert students.links == [f"feedback/{i}.md" for i in ids]
    by_id = {row[0]: row for row in students.rows}
    assert [by_id["s4"][col[k]] for k in ("producer", "consumer", "payment", "checkpoint")] == ["5", "0", "0", "2"]
    assert by_id["s7"][col["pending"]] == "1" and by_id["s1"][col["pending"]] == ""  # s7's q3 waits for a person
    weakest, status = col["weakest"], col["status"]
    assert by_id["s5"][weakest].startswith("acknowledgements (0") and "concept 1 (0" in by_id["s5"][weakest]
    assert by_id["s1"][weakest].startswith("concept 3 (0")
    assert by_id["s6"][weakest] == "–" and by_id["s6"][status] == "empty"


def test_the_heatmap_shows_each_students_share_per_concept_and_pending_apart(klass):
    rows = {r.student: r for r in stats.students(klass)}
    assert rows["s4"].concepts["acknowledgements"].share == pytest.approx(5 / 20)
    assert rows["s6"].concepts["acknowledgements"].share is None  # nothing ran: no verdict, not 0
    waiting = rows["s7"].concepts["concept 3"]
    assert (waiting.share, waiting.pending) == (None, 1)
    assert [c for c, _ in stats.concepts(klass)][0] == "concept 3"  # the class's weakest first
    heat = table(render(klass), "concepts")
    assert [h["data-key"] for h in heat.header][:2] == ["student", "concept:concept 3"]
    cells = {row[0]: row[1:] for row in heat.rows}
    assert set(cells) == set(klass)
    concept3 = [h["data-key"] for h in heat.header].index("concept:concept 3") - 1
    assert cells["s7"][concept3] == "…" and cells["s6"][concept3] == "–" and cells["s1"][concept3] == "0"


def test_free_responses_waiting_for_a_person_are_pending_not_the_hardest_questions():
    """A question nobody's answer is graded for yet has no difficulty, instead of looking like 0 %."""
    waiting = quiz(True, None)
    results = {f"s{i}": student(code(P), quiz(True, None) if i else waiting) for i in range(4)}
    results["s9"] = student(code(P), quiz(False, None))
    items = {i.question: i for i in stats.quiz_items(results)}
    assert (items["q2"].answered, items["q2"].pending, items["q2"].difficulty) == (0, 5, None)
    assert items["q1"].pending == 0 and items["q1"].difficulty == pytest.approx(4 / 5)
    html = render(results)
    row = re.search(r"<tr><td>checkpoint</td><td>q2: Question 2</td>(.*?)</tr>", html).group(1)
    assert '<span class="pending">5</span>' in row and "0 %" not in row
    assert "5 free response(s) wait for a person" in html


CHROMIUM = shutil.which("chromium")


def in_chromium(page, fragment: str, tmp_path) -> str:
    """The page's DOM after Chromium opened it (and ran its script) with ``#fragment``."""
    profile = tmp_path / f"profile-{fragment}"
    done = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                           "--no-first-run", "--disable-background-networking", "--disable-component-update",
                           "--disable-sync", f"--user-data-dir={profile}", "--dump-dom",
                           f"{page.as_uri()}#{fragment}"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (apt-get install chromium)")
def test_clicking_a_column_header_sorts_the_students_in_chromium(klass, tmp_path):
    """In a real browser, offline, under the page's own Content-Security-Policy: a click on a header
    sorts by it, numbers as numbers; a second click the other way. (``#sort=a,b`` clicks a then b.)"""
    klass["s10"] = student(code(P, P, F, F, F, F, F))  # 10 points: as text, it would sort before 2
    klass["<img src=x onerror=alert(1)>"] = student(code(F))
    page = tmp_path / "report.html"
    page.write_text(render(klass, feedback={k: f"feedback/{k}.md" for k in klass}), encoding="utf-8")

    served = table(page.read_text(encoding="utf-8"), "students")
    dom = table(in_chromium(page, "sort=total", tmp_path), "students")
    assert dom.rows == served.rows  # the page opens sorted by total; the script changed no cell

    by_producer = table(in_chromium(page, "sort=producer", tmp_path), "students")
    scores = [float(row[2]) for row in by_producer.rows]
    assert scores == sorted(scores) and 10.0 in scores and 2.0 not in scores[scores.index(10.0):]
    assert by_producer.header[2].get("aria-sort") == "ascending"

    by_name = table(in_chromium(page, "sort=student,student", tmp_path), "students")
    names = [row[0] for row in by_name.rows]
    assert names == sorted(names, reverse=True)
    assert by_name.header[0].get("aria-sort") == "descending"
    assert by_name.links == [f"feedback/{quote(n)}.md" for n in names]  # each row keeps its own link
