"""The Gradescope autograder: the zip holds what Gradescope runs and what the grader needs (never the
solutions), and run_autograder, run against a folder laid out like /autograder, always leaves a
results.json that follows Gradescope's specification."""
from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from grader.integrations import gradescope
from grader.paths import EXERCISES, ROOT, SOLUTIONS
from grader.render.gradescope import to_gradescope
from grader.results import ExerciseResult, Status, SubmissionResult, TestResult

CODE_FILES = ("sqs_producer.py", "sqs_consumer.py", "payment_handler.py")
VISIBILITIES = {"hidden", "after_due_date", "after_published", "visible"}


def validate(results: dict) -> None:
    """Gradescope's results.json: https://gradescope-autograders.readthedocs.io/en/latest/specs/"""
    assert isinstance(results["score"], (int, float))
    assert results.get("visibility", "visible") in VISIBILITIES
    assert results.get("stdout_visibility", "hidden") in VISIBILITIES
    assert isinstance(results.get("output", ""), str)
    assert isinstance(results["tests"], list) and results["tests"]
    for test in results["tests"]:
        assert set(test) <= {"score", "max_score", "status", "name", "name_format", "number", "output",
                             "output_format", "tags", "visibility", "extra_data"}
        assert isinstance(test["name"], str) and test["name"]
        assert isinstance(test["score"], (int, float)) and isinstance(test["max_score"], (int, float))
        assert test["status"] in ("passed", "failed")
        assert isinstance(test["output"], str)
        assert test["visibility"] in VISIBILITIES
    assert results["score"] == pytest.approx(sum(t["score"] for t in results["tests"]))


@pytest.fixture(scope="module")
def autograder_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("gs") / "autograder.zip"
    done = subprocess.run([sys.executable, "-m", "grader", "gradescope", "build", str(out)],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    return out


def lay_out(tmp: Path, archive: Path) -> Path:
    """A folder like Gradescope's /autograder: source/ unzipped, run_autograder beside it."""
    root = tmp / "autograder"
    (root / "source").mkdir(parents=True)
    (root / "submission").mkdir()
    with zipfile.ZipFile(archive) as zf:
        zf.extractall(root / "source")
    shutil.copy(root / "source" / "run_autograder", root / "run_autograder")
    os.chmod(root / "run_autograder", 0o755)
    return root


def run_autograder(root: Path, python: str = sys.executable) -> dict:
    env = {**os.environ, "BROKERLAB_PYTHON": python}
    done = subprocess.run(["bash", str(root / "run_autograder"), str(root)], capture_output=True, text=True,
                          env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    results = json.loads((root / "results" / "results.json").read_text(encoding="utf-8"))
    validate(results)
    return results


def test_the_zip_holds_the_scripts_and_the_grader_but_never_the_solutions(autograder_zip, tmp_path):
    with zipfile.ZipFile(autograder_zip) as zf:
        infos = {i.filename: i for i in zf.infolist()}
        setup = zf.read("setup.sh").decode()
        run = zf.read("run_autograder").decode()
    for name in ("setup.sh", "run_autograder"):
        assert (infos[name].external_attr >> 16) & stat.S_IXUSR
    assert {"pyproject.toml", "README.md", "grader/grade.py", "grader/suites/test_producer.py",
            "quizzes/checkpoint.yaml", "exercises/sqs_producer.py"} <= set(infos)
    assert not [n for n in infos if n.startswith(("solutions/", "tests/", "examples/", "benchmarks/"))]
    assert not [n for n in infos if "__pycache__" in n or n.endswith(".pyc")]
    assert "pip install -e" in setup and "/autograder/source" in setup
    assert "results/results.json" in run and "--hidden-visibility after_published" in run
    again = tmp_path / "again.zip"
    gradescope.build_zip(again)
    assert again.read_bytes() == autograder_zip.read_bytes()  # the same source, the same zip


def test_run_autograder_grades_the_submission(autograder_zip, tmp_path):
    root = lay_out(tmp_path, autograder_zip)
    for name in CODE_FILES:
        shutil.copy(SOLUTIONS / name, root / "submission" / name)
    (root / "submission" / "answers.yaml").write_text("checkpoint:\n  q1: C\n  q2: B\n")
    results = run_autograder(root)
    assert results["score"] == 101
    assert results["stdout_visibility"] == "hidden"
    hidden = [t for t in results["tests"] if not t["name"].startswith("checkpoint")]
    quiz = [t for t in results["tests"] if t["name"].startswith("checkpoint")]
    assert len(hidden) >= 30 and {t["visibility"] for t in hidden} == {"after_published"}
    assert {t["status"] for t in hidden} == {"passed"}
    assert {t["visibility"] for t in quiz} == {"visible"}
    assert [t["status"] for t in quiz if t["name"].startswith("checkpoint: q2")] == ["failed"]


def test_run_autograder_grades_one_uploaded_zip_and_shows_failures(autograder_zip, tmp_path):
    root = lay_out(tmp_path, autograder_zip)
    with zipfile.ZipFile(root / "submission" / "upload.zip", "w") as zf:
        for name in CODE_FILES:
            zf.write(EXERCISES / name, f"mywork/{name}")
    results = run_autograder(root)
    assert results["score"] == 0 and len(results["tests"]) >= 30
    failed = [t for t in results["tests"] if t["status"] == "failed"]
    assert failed and all(t["output"] for t in failed)
    assert not any("def test_" in t["output"] or "expect(" in t["output"] for t in results["tests"])


@pytest.mark.parametrize("case", ["python fails", "no submission", "corrupt upload"])
def test_a_results_file_is_written_even_when_grading_fails(autograder_zip, tmp_path, case):
    root = lay_out(tmp_path, autograder_zip)
    python = sys.executable
    if case == "python fails":
        python = "/bin/false"
    elif case == "no submission":
        shutil.rmtree(root / "submission")
    else:
        (root / "submission" / "upload.zip").write_bytes(b"PK\x03\x04 broken")
    results = run_autograder(root, python)
    assert results["score"] == 0
    (test,) = results["tests"]
    assert test["status"] == "failed" and test["visibility"] == "visible" and test["output"]
    if case == "corrupt upload":
        assert "could not be opened" in results["output"]


def test_visibility_is_configurable():
    code = ExerciseResult(tests=[TestResult(name="t", score=1, max_score=1, status=Status.PASSED)])
    quiz = ExerciseResult(kind="quiz", tests=[TestResult(name="q1: x", score=0, max_score=1, status=Status.FAILED)])
    result = SubmissionResult(exercises={"producer": code, "checkpoint": quiz})
    default = {t["name"]: t["visibility"] for t in to_gradescope(result)["tests"]}
    assert default == {"producer: t": "after_published", "checkpoint: q1: x": "visible"}
    hidden = {t["name"]: t["visibility"] for t in to_gradescope(result, "hidden")["tests"]}
    assert hidden == {"producer: t": "hidden", "checkpoint: q1: x": "visible"}
    with pytest.raises(ValueError):
        to_gradescope(result, "sometimes")


def test_build_with_another_visibility(tmp_path):
    out = tmp_path / "ag.zip"
    gradescope.build_zip(out, "after_due_date")
    with zipfile.ZipFile(out) as zf:
        assert "--hidden-visibility after_due_date" in zf.read("run_autograder").decode()


def _nobody_can_run_python() -> bool:
    if os.geteuid() != 0:
        return False
    try:
        return subprocess.run([sys.executable, "-c", "import grader"], user=65534, group=65534, extra_groups=[],
                              cwd="/", capture_output=True, timeout=60).returncode == 0
    except (PermissionError, OSError):
        return False


@pytest.mark.skipif(not _nobody_can_run_python(), reason="needs root and a Python that 'nobody' may run")
def test_without_a_sandbox_it_grades_as_nobody(tmp_path, monkeypatch):
    root = tmp_path / "autograder"
    (root / "submission").mkdir(parents=True)
    for name in CODE_FILES:
        shutil.copy(SOLUTIONS / name, root / "submission" / name)
    monkeypatch.setattr(gradescope, "sandbox_available", lambda: False)
    results = gradescope.run_autograder(root)
    validate(results)
    assert results["score"] == 100
