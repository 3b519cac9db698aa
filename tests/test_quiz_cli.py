"""The ``brokerlab quiz`` verb: take (fed by a stream), grade (practice), export, check."""
from __future__ import annotations

import io
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import pytest
import yaml
from rich.console import Console

from grader.cli import main
from grader.errors import UserError
from grader.quiz.grading import grade_answers_file
from grader.quiz.loader import load_bank
from grader.quiz.take import read_answers, take_quiz
from grader.results import Status


def right_input(q) -> str:
    """What a student who knows the key types for question ``q``."""
    if q.type == "single":
        return next(k for k, c in q.choices.items() if c.correct).lower() + "\n"
    if q.type == "multiple":
        return " ".join(k for k, c in q.choices.items() if c.correct) + "\n"
    if q.type == "true_false":
        return ("t" if q.answer else "f") + "\n"
    if q.type == "short_answer":
        return f"  {(q.display or q.answers)[0]}  \n"
    if q.type == "numeric":
        return f"{q.answer:g} {q.unit or ''}\n"
    if q.type == "ordering":
        return " ".join(q.answer) + "\n"
    if q.type == "matching":
        return "".join(f"{p.answer}\n" for p in q.pairs)
    return "Brokers delete to stay fast.\nKeeping all would grow without bound.\n\n"


def quiet_console() -> Console:
    return Console(file=io.StringIO(), width=100)


@pytest.mark.parametrize("quiz_id", sorted(load_bank()))
def test_taking_a_quiz_with_the_key_earns_every_automatic_point(tmp_path, quiz_id):
    quiz = load_bank()[quiz_id]
    answers = tmp_path / "answers.yaml"
    typed = "".join(right_input(q) for q in quiz.questions)
    assert take_quiz(quiz, answers, quiet_console(), io.StringIO(typed)) == len(quiz.questions)
    result = grade_answers_file(answers)[quiz_id]
    for q, test in zip(quiz.questions, result.tests):
        if q.type == "free_response":
            assert test.status is Status.NEEDS_GRADING and "Keeping all would grow" in test.feedback
        else:
            assert test.status is Status.PASSED, (q.id, test.feedback)


def test_take_writes_the_documented_forms(tmp_path):
    quiz = load_bank()["concepts"]
    answers = tmp_path / "answers.yaml"
    take_quiz(quiz, answers, quiet_console(), io.StringIO("".join(right_input(q) for q in quiz.questions)))
    saved = yaml.safe_load(answers.read_text(encoding="utf-8"))["concepts"]
    by_type = {q.type: saved[q.id] for q in quiz.questions}
    assert isinstance(by_type["ordering"], list) and len(by_type["ordering"]) == 6
    assert isinstance(by_type["matching"], dict) and set(by_type["matching"]) == set(range(1, 7))
    assert isinstance(by_type["true_false"], bool)
    assert by_type["numeric"] in (30, 24)
    assert isinstance(by_type["multiple"], list)


def test_take_reasks_after_a_bad_answer_and_says_why(tmp_path):
    quiz = load_bank()["checkpoint"]
    console = quiet_console()
    answers = tmp_path / "answers.yaml"
    take_quiz(quiz, answers, console, io.StringIO("E\nA D\nc\n"))
    assert read_answers(answers) == {"checkpoint": {"q1": "C"}}
    shown = console.file.getvalue()
    assert "'E' is not one of the choices (A–D); try again." in shown
    assert "Stopped. Your answers so far are saved." in shown


def test_take_keeps_saved_answers_and_other_quizzes(tmp_path):
    answers = tmp_path / "answers.yaml"
    answers.write_text("discussion:\n  q1: [A, D]\ncheckpoint:\n  q1: B\n  q2: A\n", encoding="utf-8")
    console = quiet_console()
    take_quiz(load_bank()["checkpoint"], answers, console, io.StringIO("\nc\n"))
    assert read_answers(answers) == {"discussion": {"q1": ["A", "D"]}, "checkpoint": {"q1": "B", "q2": "C"}}
    assert "[Enter keeps: B]" in console.file.getvalue()


def test_take_keeps_saved_matching_pairs(tmp_path):
    quiz = load_bank()["concepts"]
    matching = next(q for q in quiz.questions if q.type == "matching")
    answers = tmp_path / "answers.yaml"
    answers.write_text(f"concepts:\n  {matching.id}: {{1: A, 2: D}}\n", encoding="utf-8")
    before = [q for q in quiz.questions][: quiz.questions.index(matching)]
    typed = "\n" * len(before) + "\n" + "\n" + "F\n"
    take_quiz(quiz, answers, quiet_console(), io.StringIO(typed))
    assert read_answers(answers)["concepts"][matching.id] == {1: "A", 2: "D", 3: "F"}


def test_take_refuses_to_overwrite_a_broken_answers_file(tmp_path):
    answers = tmp_path / "answers.yaml"
    answers.write_text("checkpoint: [\n", encoding="utf-8")
    with pytest.raises(UserError, match="answers.yaml:2: not valid YAML"):
        take_quiz(load_bank()["checkpoint"], answers, quiet_console(), io.StringIO("C\n"))
    assert answers.read_text(encoding="utf-8") == "checkpoint: [\n"


def test_take_from_the_command_line_reads_stdin(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.stdin", io.StringIO("c\nc\n"))
    assert main(["quiz", "take", "checkpoint"]) == 0
    assert read_answers(tmp_path / "answers.yaml") == {"checkpoint": {"q1": "C", "q2": "C"}}
    assert "2 of 3 questions of checkpoint answered" in capsys.readouterr().out


def test_take_defaults_to_the_exercises_folder_of_a_bundle(tmp_path, monkeypatch):
    (tmp_path / "exercises").mkdir()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.stdin", io.StringIO("b\n"))
    assert main(["quiz", "take", "checkpoint"]) == 0
    assert read_answers(tmp_path / "exercises" / "answers.yaml") == {"checkpoint": {"q1": "B"}}


def test_an_unknown_quiz_is_one_line(capsys):
    assert main(["quiz", "take", "checkpoints"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == ("brokerlab quiz: error: no quiz 'checkpoints'; the quizzes are amqp, checkpoint, "
                   "concepts, discussion")


# ---------------------------------------------------------------- practice grading

def test_quiz_grade_shows_scores_and_feedback(tmp_path, capsys):
    answers = tmp_path / "answers.yaml"
    answers.write_text("checkpoint:\n  q1: C\n  q2: A\n  q3: They stay fast.\n", encoding="utf-8")
    assert main(["quiz", "grade", str(answers)]) == 0
    out = capsys.readouterr().out
    assert "checkpoint: 1 / 5" in out
    assert "q1: Broker purpose  1/1  passed" in out
    assert "q2: Acknowledgements  0/1  failed" in out and "You chose A. Not right." in out
    assert "q3: Broker vs database  0/3  needs a person" in out
    assert "1 free-response answer(s) wait for a person" in out
    assert "Model answer" not in out and "Rubric" not in out


def test_quiz_grade_of_a_missing_file_is_one_line(tmp_path, capsys):
    assert main(["quiz", "grade", str(tmp_path / "nope.yaml")]) == 2
    assert capsys.readouterr().err.strip().endswith("nope.yaml: no such answers file")


def test_quiz_grade_of_a_broken_file_still_reports(tmp_path, capsys):
    answers = tmp_path / "answers.yaml"
    answers.write_text("checkpoint:\n  q1: [C\n", encoding="utf-8")
    assert main(["quiz", "grade", str(answers)]) == 0
    assert "not valid YAML" in capsys.readouterr().out


# ---------------------------------------------------------------- export and check

@pytest.mark.parametrize("fmt, suffix", [("qti", ".zip"), ("moodle", ".xml")])
def test_quiz_export_writes_the_file_and_warns_on_stderr(tmp_path, capsys, fmt, suffix):
    out = tmp_path / f"concepts{suffix}"
    assert main(["quiz", "export", "concepts", "--format", fmt, "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert f"wrote {out} (16 questions of concepts)" in captured.out
    assert "warning: concepts/q1:" in captured.err
    if fmt == "qti":
        assert "imsmanifest.xml" in zipfile.ZipFile(out).namelist()
    else:
        assert out.read_text(encoding="utf-8").startswith("<?xml")


def test_quiz_export_checks_the_suffix(tmp_path, capsys):
    assert main(["quiz", "export", "checkpoint", "--format", "qti", "--out", str(tmp_path / "x.xml")]) == 2
    assert "a qti export is a .zip file" in capsys.readouterr().err
    assert not (tmp_path / "x.xml").exists()


def test_quiz_export_takes_a_quiz_file(tmp_path, capsys):
    source = Path(__file__).resolve().parents[1] / "quizzes" / "checkpoint.yaml"
    out = tmp_path / "c.xml"
    assert main(["quiz", "export", str(source), "--format", "moodle", "--out", str(out)]) == 0
    assert out.is_file()


def test_quiz_check_passes_on_the_bank(capsys):
    assert main(["quiz", "check"]) == 0
    assert "4 quizzes, 33 questions: all valid" in capsys.readouterr().out


@pytest.mark.parametrize("mode, kind", [("ordering", "ordering"), ("matching", "matching")])
def test_quiz_export_moodle_ordering_has_a_matching_fallback(tmp_path, capsys, mode, kind):
    out = tmp_path / "concepts.xml"
    assert main(["quiz", "export", "concepts", "--format", "moodle", "--moodle-ordering", mode,
                 "--out", str(out)]) == 0
    first = [q for q in ET.parse(out).getroot().findall("question") if q.get("type") != "category"][0]
    assert first.get("type") == kind
