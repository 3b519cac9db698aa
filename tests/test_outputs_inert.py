"""What instructors open is inert, and a submission's files can neither hide a code exercise nor
blow up its result.

Every test here feeds hostile student-controlled text (names, answers, quiz keys, what the
code printed or raised) in from outside and asserts what must not come out: a formula in a
spreadsheet cell, an escape sequence on a terminal, markup in a feedback page, a crash, a
quiz result in the place of a code exercise, a result without bound.
"""
from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from grader.bulk import gradebook
from grader.paths import ROOT
from grader.quiz.grading import grade_answers
from grader.quiz.loader import load_bank
from grader.render import render
from grader.render.markdown import to_markdown
from grader.render.text import to_text
from grader.report.html import render as render_report
from grader.results import ExerciseResult, Status, SubmissionResult, TestResult

HOSTILE = Path(__file__).parent / "adversarial" / "outputs"
ESC = "\x1b[2J\x1b]0;owned\x07\x9b31m\r"
BREAKOUT = "\n~~~~~\n`````\n</details>\n# Owned\n![t](http://evil.example/t.png)\n<script>alert(1)</script>\n"
RAW_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # what must never reach a terminal
FORMULA = ("=", "+", "-", "@", "\t", "\r")


def hostile_result(score: float = 0.0) -> SubmissionResult:
    test = TestResult(name="t" + ESC, score=score, max_score=5, status=Status.FAILED,
                      feedback="Answer given: " + ESC + BREAKOUT, concept="c" + ESC,
                      output=ESC + BREAKOUT, traceback="Traceback\nRuntimeError: " + ESC + BREAKOUT)
    quiz = ExerciseResult(kind="quiz", feedback="there is no quiz " + ESC + BREAKOUT)
    return SubmissionResult(exercises={"producer": ExerciseResult(tests=[test]),
                                       "[x](javascript:alert(1))" + ESC + BREAKOUT: quiz})


def cells(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))


# -- B: spreadsheets ---------------------------------------------------------------------------

FORMULA_IDS = ["=cmd|' /C calc'!A0", "+1+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1", "=HYPERLINK(\"http://x\")"]


def test_no_gradebook_cell_starts_a_formula_but_numbers_stay_numbers():
    results = {i: hostile_result(score=-2.5) for i in FORMULA_IDS}
    results["plain"] = hostile_result(score=3)
    for data in (gradebook.grades_csv(results), gradebook.canvas_csv(results, "=Lab", "=1")):
        rows = cells(data)
        for row in rows:
            for cell in row:
                if re.fullmatch(r"-?\d+(\.\d+)?", cell):
                    continue  # a number, negative ones included, stays a number
                assert not cell.startswith(FORMULA), repr(cell)
        flat = [c for row in rows for c in row]
        assert "-2.5" in flat and "3" in flat
        assert "'=cmd|' /C calc'!A0" in flat and "'-2+3" in flat  # neutralised, still readable


# -- B: the terminal -------------------------------------------------------------------------------

def test_the_text_report_shows_escape_sequences_instead_of_sending_them():
    text = to_text(hostile_result(), title="Report")
    assert not RAW_CONTROLS.search(text), repr(RAW_CONTROLS.search(text))
    assert "\\x1b[2J" in text and "\\x9b" in text  # shown, visibly


def test_json_on_a_terminal_carries_no_raw_control_either():
    result = hostile_result()
    for fmt in ("json", "gradescope"):
        out = render(result, fmt)
        assert not RAW_CONTROLS.search(out.replace("\n", "")), fmt
        json.loads(out)  # still the same JSON
    assert json.loads(render(result, "json"))["exercises"]["producer"]["tests"][0]["output"].startswith("\x1b[2J")


def test_brokerlab_grade_never_prints_what_the_students_code_printed_raw(submission):
    folder = submission(producer=(HOSTILE / "print_escapes.py").read_text(), consumer="solution",
                        payment="solution", **{"answers.yaml": (HOSTILE / "answers_escapes.yaml").read_text()})
    for fmt in ("text", "json"):
        done = subprocess.run([sys.executable, "-m", "grader", "grade", str(folder), "--format", fmt],
                              capture_output=True, cwd=ROOT, timeout=300)
        assert done.returncode == 0, done.stderr
        out = done.stdout.decode("utf-8")
        assert not RAW_CONTROLS.search(out.replace("\n", "")), (fmt, RAW_CONTROLS.search(out))
        assert "owned" in out  # what the student's code printed is there, as text


# -- B: Markdown feedback --------------------------------------------------------------------------

def test_markdown_feedback_holds_no_markup_of_the_students_and_keeps_output_fenced():
    student_id = "amy\n# Owned <img src=x> [x](http://evil.example)"
    text = to_markdown(hostile_result(), student_id)
    assert not RAW_CONTROLS.search(text.replace("\n", ""))
    html = MarkdownIt("commonmark").render(text)
    assert html.count("<h1>") == 1 and "Owned</h1>" not in html
    assert "<img" not in html and "<script" not in html and "<a href" not in html
    assert "http://evil.example/t.png" in html  # the text is shown, only not as an image
    blocks = re.findall(r"<pre><code>(.*?)</code></pre>", html, re.S)
    assert len(blocks) == 2  # the output and the traceback, each one whole block
    for block in blocks:
        assert "~~~~~" in block and "`````" in block and "# Owned" in block  # all inside, none closed it
    assert "&lt;/details&gt;" in html and "<details" not in html


# -- B: the class report ---------------------------------------------------------------------------

def test_the_class_report_escapes_names_and_draws_math_like_text_as_text():
    test = TestResult(name="t $\\frac{$ <script>", score=0, max_score=5, status=Status.FAILED,
                      concept="$x^$ <b>")
    result = SubmissionResult(exercises={"producer": ExerciseResult(tests=[test])})
    html = render_report({"<script>alert(1)</script>": result, "b": result}, feedback={"b": "feedback/\"><b>.md"})
    assert html.count("<script") == 1 and "<b>" not in html and "&lt;script&gt;" in html  # one: the page's own
    assert 'href="feedback/%22%3E%3Cb%3E.md"' in html


# -- C: answers.yaml cannot replace or hide a code exercise ----------------------------------------

def test_answers_naming_code_exercises_never_replace_their_results(grader, submission):
    folder = submission(producer="stub", consumer="stub",
                        **{"answers.yaml": (HOSTILE / "answers_code_keys.yaml").read_text()})
    result = grader.grade(folder)
    code_max = {"producer": 25, "consumer": 40, "payment": 35}
    for key, points in code_max.items():
        exercise = result.exercises[key]
        assert exercise.kind == "code" and exercise.tests and exercise.max_score == points, key
    assert result.max_score >= 100  # nothing hidden from the maximum
    notes = [e.feedback for k, e in result.exercises.items() if k not in code_max]
    assert any("'producer' is a code exercise, not a quiz" in n for n in notes)


@pytest.mark.parametrize("name", ["answers_billion_laughs.yaml", "answers_bad_tag.yaml", "deep", "huge string",
                                  "many keys"])
def test_yaml_bombs_in_answers_are_refused_or_bounded_with_feedback(name):
    generated = {
        "deep": "checkpoint:\n  q1: " + "[" * 500 + "]" * 500 + "\n",
        "huge string": "checkpoint:\n  q3: '" + "A" * 500_000 + "'\n",
        "many keys": "".join(f"quiz{i}: {{q1: A}}\n" for i in range(5_000)),
    }
    text = generated.get(name) or (HOSTILE / name).read_text()
    results = grade_answers(text, load_bank())  # must not raise, nor take the memory
    size = len(json.dumps({k: e.model_dump(mode="json") for k, e in results.items()}))
    assert size < 200_000 and len(results) <= 12
    said = " ".join(e.feedback + " ".join(t.feedback for t in e.tests) for e in results.values())
    expected = {"answers_billion_laughs.yaml": "aliases", "answers_bad_tag.yaml": "not valid YAML",
                "deep": "nested", "huge string": "characters cut", "many keys": "more keys name no quiz"}
    assert expected[name] in said


# -- D: bounded results ----------------------------------------------------------------------------

def test_a_result_built_from_huge_strings_serializes_under_a_fixed_bound():
    huge = "\x1b" + "x" * 20_000_000
    test = TestResult(name=huge, score=0, max_score=1, status=Status.FAILED, feedback=huge, concept=huge,
                      output=huge, traceback=huge, visibility=huge)
    exercise = ExerciseResult(feedback=huge, tests=[test] * 3)
    result = SubmissionResult(exercises={huge: exercise}, status=huge)
    assert len(result.model_dump_json()) < 300_000
    assert "characters cut" in test.output and test.output.endswith("x")  # the tail of output is kept
    assert test.feedback.startswith("\x1b") and "characters cut" in test.feedback  # the head of feedback
    test.feedback = huge  # assigning later is cut too
    assert len(test.feedback) < 20_000
    again = SubmissionResult.from_json_dict(json.loads(json.dumps(result.to_json_dict())))
    assert len(again.model_dump_json()) < 300_000


def test_a_flood_of_output_and_a_huge_traceback_stay_bounded_in_the_store(tmp_path):
    from grader.bulk.store import Record, Store

    flood = "y" * 50_000_000
    result = SubmissionResult(exercises={"producer": ExerciseResult(tests=[
        TestResult(name="t", score=0, max_score=1, status=Status.FAILED, output=flood, traceback=flood,
                   feedback=flood)])})
    store = Store(tmp_path / "results.jsonl")
    store.append(Record("amy", "fp", result))
    assert (tmp_path / "results.jsonl").stat().st_size < 100_000

