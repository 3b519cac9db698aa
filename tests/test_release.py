"""``brokerlab release``: the student bundle holds the stubs, tests and key-less quizzes, and leaks nothing."""
from __future__ import annotations

import io
import os
import shutil
from pathlib import Path

import pytest
import yaml
from rich.console import Console

from grader.cli import main
from grader.errors import UserError
from grader.paths import EXERCISES, QUIZZES, SOLUTIONS, SUITES
from grader.quiz.grading import grade_answers
from grader.quiz.loader import load_any_quiz, load_bank
from grader.quiz.schema import PublicQuiz
from grader.quiz.take import read_answers, take_quiz
from grader.release import build_release, find_leaks

KEY_FIELDS = {"correct", "feedback", "feedback_true", "feedback_false", "explanation", "answer", "answers",
              "display", "tolerance", "examples", "model_answer", "rubric", "concept", "source"}


def keys_anywhere(data) -> set[str]:
    if isinstance(data, dict):
        return {str(k) for k in data} | set().union(*(keys_anywhere(v) for v in data.values()))
    if isinstance(data, list):
        return set().union(*(keys_anywhere(v) for v in data)) if data else set()
    return set()


def secret_texts() -> list[str]:
    texts = []
    for quiz in load_bank().values():
        for q in quiz.questions:
            texts.append(q.explanation)
            texts += [c.feedback for c in getattr(q, "choices", {}).values()]
            texts += [t for t in (getattr(q, "feedback_true", None), getattr(q, "feedback_false", None),
                                  getattr(q, "model_answer", None)) if t]
            texts += [r.criterion for r in getattr(q, "rubric", [])]
    return [" ".join(t.split()) for t in texts]


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("release") / "bundle"
    build_release(out)
    return out


def test_bundle_holds_the_exercises_as_they_are(bundle):
    expected = sorted(p.relative_to(EXERCISES) for p in EXERCISES.rglob("*")
                      if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
                      and ".pytest_cache" not in p.parts and p.name != "answers.yaml")
    got = sorted(p.relative_to(bundle / "exercises") for p in (bundle / "exercises").rglob("*")
                 if p.is_file() and p.name != "answers.yaml")
    assert got == expected
    for relative in expected:
        assert (bundle / "exercises" / relative).read_bytes() == (EXERCISES / relative).read_bytes()
    assert not list(bundle.rglob("__pycache__")) and not list(bundle.rglob("*.pyc"))


def test_bundle_never_holds_a_solution_or_a_hidden_suite(bundle):
    hidden = [p for folder in (SOLUTIONS, SUITES) if folder.is_dir() for p in folder.rglob("*.py")
              if p.is_file() and len(p.read_bytes().strip()) > 64]
    assert hidden, "nothing to compare against"
    contents = {p.read_bytes().strip() for p in bundle.rglob("*") if p.is_file()}
    for path in hidden:
        assert path.read_bytes().strip() not in contents, path
    names = {p.name for p in bundle.rglob("*")}
    assert "solutions" not in names and "suites" not in names


def test_bundle_quizzes_have_no_answer_keys(bundle):
    for quiz_id, quiz in load_bank().items():
        path = bundle / "quizzes" / f"{quiz_id}.yaml"
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        assert not keys_anywhere(data) & KEY_FIELDS, path
        public = PublicQuiz.model_validate(data)
        assert [q.id for q in public.questions] == [q.id for q in quiz.questions]
        for full, shown in zip(quiz.questions, public.questions):
            assert shown.prompt == full.prompt and shown.points == full.points
            if full.type in ("single", "multiple"):
                assert {k: c.text for k, c in shown.choices.items()} == {k: c.text for k, c in full.choices.items()}


def test_bundle_holds_no_feedback_explanation_rubric_or_model_answer(bundle):
    secrets = [s for s in secret_texts() if len(s) >= 20]
    for path in bundle.rglob("*"):
        if path.is_file():
            text = " ".join(path.read_text(encoding="utf-8", errors="replace").split())
            for secret in secrets:
                assert secret not in text, f"{path} holds {secret[:60]!r}"


def test_bundle_quiz_readme_is_the_student_part(bundle):
    readme = (bundle / "quizzes" / "README.md").read_text(encoding="utf-8")
    assert readme.startswith("# Answering the quizzes")
    assert "correct: true" not in readme and "model_answer" not in readme and "Writing quiz questions" not in readme


def test_bundle_answers_template_grades_as_unanswered(bundle):
    text = (bundle / "exercises" / "answers.yaml").read_text(encoding="utf-8")
    results = grade_answers(text, load_bank())
    assert set(results) == set(load_bank())
    for result in results.values():
        assert result.feedback == ""
        assert all(t.score == 0 and t.feedback == "No answer given." for t in result.tests)


def test_a_student_can_take_a_bundle_quiz(bundle, tmp_path):
    quiz = load_any_quiz(bundle / "quizzes" / "checkpoint.yaml")
    assert isinstance(quiz, PublicQuiz)
    answers = tmp_path / "answers.yaml"
    take_quiz(quiz, answers, Console(file=io.StringIO()), io.StringIO("c\nc\nBecause.\n\n"))
    assert read_answers(answers) == {"checkpoint": {"q1": "C", "q2": "C", "q3": "Because."}}


def test_the_cli_takes_a_quiz_from_the_bundle_folder(bundle, tmp_path, monkeypatch, capsys):
    quizzes = tmp_path / "quizzes"
    shutil.copytree(bundle / "quizzes", quizzes)
    path = quizzes / "concepts.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("title: 'Module 5 core concepts", "title: 'Bundled"),
                    encoding="utf-8")
    monkeypatch.setattr("sys.stdin", io.StringIO("D B F A E C\n"))
    answers = tmp_path / "a.yaml"
    assert main(["quiz", "take", "concepts", "--quizzes", str(quizzes), "--answers", str(answers)]) == 0
    assert "Bundled: message brokers" in capsys.readouterr().out
    assert read_answers(answers) == {"concepts": {"q1": ["D", "B", "F", "A", "E", "C"]}}


# ---------------------------------------------------------------- refusing and guarding

def fake_course(tmp_path: Path) -> tuple[Path, Path, Path]:
    exercises = tmp_path / "course" / "exercises"
    (exercises / "tests" / "__pycache__").mkdir(parents=True)
    (exercises / "sqs_producer.py").write_text("def create_queue(sqs, queue_name):\n    raise NotImplementedError\n")
    (exercises / "tests" / "test_producer.py").write_text("def test_public():\n    assert True\n")
    (exercises / "tests" / "__pycache__" / "test_producer.cpython-311.pyc").write_bytes(b"\0compiled")
    (exercises / "README.md").write_text("# Exercises\n")
    (exercises / "answers.yaml").write_text("checkpoint:\n  q1: C\n  q2: C\n")
    solutions = tmp_path / "course" / "solutions"
    solutions.mkdir()
    (solutions / "sqs_producer.py").write_text("def create_queue(sqs, queue_name):\n    return sqs.create_queue("
                                               "QueueName=queue_name)['QueueUrl']  # the answer\n")
    suites = tmp_path / "course" / "suites"
    suites.mkdir()
    (suites / "__init__.py").write_text("")
    return exercises, solutions, suites


def test_release_skips_caches_and_replaces_a_stray_answers_file(tmp_path):
    exercises, solutions, suites = fake_course(tmp_path)
    files = build_release(tmp_path / "out", exercises=exercises, forbidden=(solutions, suites))
    assert Path("exercises/tests/test_producer.py") in files
    assert not any("__pycache__" in p.parts for p in files)
    answers = yaml.safe_load((tmp_path / "out" / "exercises" / "answers.yaml").read_text(encoding="utf-8"))
    assert answers["checkpoint"] == {"q1": None, "q2": None, "q3": None}


def test_release_refuses_a_copy_of_a_solution_and_writes_nothing(tmp_path):
    exercises, solutions, suites = fake_course(tmp_path)
    shutil.copy(solutions / "sqs_producer.py", exercises / "sqs_producer.py")
    with pytest.raises(UserError, match=r"would leak .*exercises/sqs_producer.py: the same file as"):
        build_release(tmp_path / "out", exercises=exercises, forbidden=(solutions, suites))
    assert not (tmp_path / "out").exists()


def test_release_refuses_answer_key_text_anywhere(tmp_path):
    exercises, solutions, suites = fake_course(tmp_path)
    explanation = load_bank()["checkpoint"].question("q2").explanation
    (exercises / "README.md").write_text(f"# Exercises\n\nHint: {explanation}\n")
    with pytest.raises(UserError, match="exercises/README.md: holds answer-key text"):
        build_release(tmp_path / "out", exercises=exercises, forbidden=(solutions, suites))


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="no symlinks")
def test_release_refuses_symlinks(tmp_path):
    exercises, solutions, suites = fake_course(tmp_path)
    (exercises / "peek.py").symlink_to(solutions / "sqs_producer.py")
    with pytest.raises(UserError, match="peek.py: a symlink"):
        build_release(tmp_path / "out", exercises=exercises, forbidden=(solutions, suites))


def test_find_leaks_spots_a_quiz_with_its_key(tmp_path):
    (tmp_path / "quizzes").mkdir()
    shutil.copy(QUIZZES / "checkpoint.yaml", tmp_path / "quizzes" / "checkpoint.yaml")
    leaks = find_leaks(tmp_path, load_bank())
    assert any(line.startswith("quizzes/checkpoint.yaml: holds answer-key text") for line in leaks)
    assert any(line.startswith("quizzes/checkpoint.yaml: not a key-less public quiz") for line in leaks)


def test_release_will_not_overwrite_a_folder_it_did_not_write(tmp_path):
    exercises, solutions, suites = fake_course(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    (out / "thesis.tex").write_text("precious")
    with pytest.raises(UserError, match="not empty and not an earlier bundle"):
        build_release(out, exercises=exercises, forbidden=(solutions, suites))
    assert (out / "thesis.tex").read_text() == "precious"


def test_release_replaces_an_earlier_bundle_only_with_force(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["release", str(out)]) == 0
    assert "exercises/answers.yaml" in capsys.readouterr().out
    (out / "exercises" / "leftover.txt").write_text("old")
    assert main(["release", str(out)]) == 2
    assert "add --force to replace it" in capsys.readouterr().err
    assert main(["release", str(out), "--force"]) == 0
    assert not (out / "exercises" / "leftover.txt").exists()


def test_release_will_not_write_into_the_course(tmp_path):
    with pytest.raises(UserError, match="inside the course's own"):
        build_release(EXERCISES / "bundle")
