"""The Gradescope autograder: the zip holds what Gradescope runs and what the grader needs (never the
solutions, pinned, nothing for plotting or nbgrader), setup.sh finds or installs a released Python
3.11+, and run_autograder, run against a folder laid out like /autograder, always leaves a
results.json that follows Gradescope's specification (gradescope/autograder_samples docs/specs.md)."""
from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import zipfile
from importlib import metadata
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from grader.integrations import gradescope
from grader.paths import EXERCISES, ROOT, SOLUTIONS
from grader.render.gradescope import to_gradescope
from grader.results import ExerciseResult, Status, SubmissionResult, TestResult

CODE_FILES = ("sqs_producer.py", "sqs_consumer.py", "payment_handler.py")
VISIBILITIES = {"hidden", "after_due_date", "after_published", "visible"}
FORMATS = {"text", "html", "simple_format", "md", "ansi"}
TOP_KEYS = {"score", "execution_time", "output", "output_format", "test_output_format", "test_name_format",
            "visibility", "stdout_visibility", "extra_data", "tests", "leaderboard"}
TEST_KEYS = {"score", "max_score", "status", "name", "name_format", "number", "output", "output_format", "tags",
             "visibility", "extra_data"}
NOT_FOR_GRADING = ("matplotlib", "numpy", "nbgrader", "nbformat", "jupyter", "flask", "cfn-lint")


def validate(results: dict) -> None:
    """Gradescope's results.json, as docs/specs.md of gradescope/autograder_samples documents it."""
    assert set(results) <= TOP_KEYS
    assert isinstance(results["score"], (int, float))  # required: not every test has a score
    assert results.get("visibility", "visible") in VISIBILITIES
    assert results.get("stdout_visibility", "hidden") in VISIBILITIES
    for key in ("output_format", "test_output_format", "test_name_format"):
        assert results.get(key, "text") in FORMATS
    assert isinstance(results.get("output", ""), str)
    assert isinstance(results["tests"], list) and results["tests"]
    for test in results["tests"]:
        assert set(test) <= TEST_KEYS
        assert isinstance(test["name"], str) and test["name"]
        for key in ("score", "max_score"):
            assert isinstance(test.get(key, 0), (int, float))
        assert test.get("status", "passed") in ("passed", "failed")
        assert isinstance(test["output"], str)
        assert test.get("output_format", "text") in FORMATS and test.get("name_format", "text") in FORMATS
        assert test["visibility"] in VISIBILITIES
        assert all(isinstance(tag, str) for tag in test.get("tags", []))
    assert results["score"] == pytest.approx(sum(t.get("score", 0) for t in results["tests"]))
    if any(t["visibility"] != "visible" for t in results["tests"]):  # Gradescope hides the total then
        assert "Score" not in results.get("output", "") and "/" not in results.get("output", "")


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


def run_autograder(root: Path, python: str | None = None) -> dict:
    """As Gradescope runs it, its root given by the environment; the Python is root/venv's unless said."""
    env = {**os.environ, "BROKERLAB_AUTOGRADER_ROOT": str(root)}
    env.pop("BROKERLAB_PYTHON", None)
    if python is None:
        (root / "venv" / "bin").mkdir(parents=True, exist_ok=True)
        _stub(root / "venv" / "bin" / "python", f'exec {sys.executable} "$@"\n')  # as setup.sh's venv
    else:
        env["BROKERLAB_PYTHON"] = python
    done = subprocess.run(["bash", str(root / "run_autograder")], capture_output=True, text=True,
                          env=env, timeout=300, cwd=root)
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
    assert "requirements.txt" in setup and "--no-deps -e" in setup and "/autograder" in setup
    assert "results/results.json" in run and "--hidden-visibility after_published" in run
    assert "--quiz-visibility after_due_date" in run
    again = tmp_path / "again.zip"
    gradescope.build_zip(again)
    assert again.read_bytes() == autograder_zip.read_bytes()  # the same source, the same zip


def test_run_autograder_grades_the_submission(autograder_zip, tmp_path):
    root = lay_out(tmp_path, autograder_zip)
    for name in CODE_FILES:
        shutil.copy(SOLUTIONS / name, root / "submission" / name)
    (root / "submission" / "answers.yaml").write_text("checkpoint:\n  q1: C\n  q2: B\n  q3: They differ.\n")
    results = run_autograder(root)
    assert results["score"] == 101
    assert results["stdout_visibility"] == "hidden"
    hidden = [t for t in results["tests"] if t["name"].split(":")[0] in ("producer", "consumer", "payment")]
    quiz = [t for t in results["tests"] if t["name"].startswith("checkpoint")]
    assert len(hidden) >= 30 and {t["visibility"] for t in hidden} == {"after_published"}
    assert {t["status"] for t in hidden if not t["name"].startswith("amqp_")} == {"passed"}  # the SQS files only
    assert {t["visibility"] for t in quiz} == {"after_due_date"}  # their feedback holds the answers
    assert [t["status"] for t in quiz if t["name"].startswith("checkpoint: q2")] == ["failed"]
    (pending,) = [t for t in quiz if t["name"].startswith("checkpoint: q3")]
    assert "status" not in pending and "score" not in pending and pending["tags"] == ["pending"]
    assert "Pending" in pending["output"] and "They differ" in pending["output"]
    assert "Model answer" not in pending["output"] and "Rubric" not in pending["output"]
    assert {t["output_format"] for t in results["tests"]} == {"md"}
    assert "pending" in results["output"]


def test_run_autograder_grades_the_amqp_track_on_a_rabbitmq_it_starts(autograder_zip, tmp_path):
    """The AMQP files, graded by the autograder against the private RabbitMQ it starts itself (as
    setup.sh installs it on Gradescope's image): the reference earns the track's 100 points."""
    root = lay_out(tmp_path, autograder_zip)
    amqp = ("amqp_producer.py", "amqp_consumer.py", "amqp_routing.py")
    for name in amqp:
        shutil.copy(SOLUTIONS / name, root / "submission" / name)
    results = run_autograder(root)
    tests = [t for t in results["tests"] if t["name"].startswith("amqp_")]
    assert len(tests) >= 30 and {t["status"] for t in tests} == {"passed"}, \
        [t["name"] for t in tests if t["status"] != "passed"]
    assert sum(t["score"] for t in tests) == sum(t["max_score"] for t in tests) == 100
    assert results["score"] == 100  # nothing else was handed in


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
    quiz = ExerciseResult(kind="quiz", tests=[TestResult(name="q1: x", score=0, max_score=1, status=Status.FAILED,
                                                         feedback="You chose A.\nExplanation: B is right.")])
    result = SubmissionResult(exercises={"producer": code, "checkpoint": quiz})
    default = {t["name"]: t["visibility"] for t in to_gradescope(result)["tests"]}
    assert default == {"producer: t": "after_published", "checkpoint: q1: x": "after_due_date"}
    hidden = {t["name"]: t["visibility"] for t in to_gradescope(result, "hidden", "after_published")["tests"]}
    assert hidden == {"producer: t": "hidden", "checkpoint: q1: x": "after_published"}
    with pytest.raises(ValueError):
        to_gradescope(result, "sometimes")
    with pytest.raises(ValueError):  # the explanation would show before the due date
        to_gradescope(result, quiz_visibility="visible")


def test_answers_and_explanations_are_never_in_an_always_visible_test():
    quiz = ExerciseResult(kind="quiz", tests=[TestResult(name="q1: x", score=1, max_score=1, status=Status.PASSED,
                                                         feedback="You chose B.\nExplanation: B routes.")])
    result = SubmissionResult(exercises={"checkpoint": quiz})
    for visibility in ("after_due_date", "after_published"):
        data = to_gradescope(result, quiz_visibility=visibility)
        validate(data)
        shown = [t for t in data["tests"] if t["visibility"] == "visible"]
        assert not any("Explanation" in t["output"] for t in shown)
        assert "Explanation" not in data["output"] and "Score" not in data["output"]


def test_the_total_is_in_the_top_level_output_only_when_every_test_is_visible():
    code = ExerciseResult(tests=[TestResult(name="t", score=1, max_score=2, status=Status.FAILED)])
    result = SubmissionResult(exercises={"producer": code})
    assert "Score 1/2" in to_gradescope(result, "visible")["output"]
    assert "1/2" not in to_gradescope(result, "after_published")["output"]


def test_outputs_are_markdown_that_shows_the_text_as_written():
    test = TestResult(name="t", score=0, max_score=1, status=Status.FAILED, feedback="use *manual* acks <b>",
                      output="print('**x**')\n", traceback="Traceback ...\nValueError: `x`")
    result = SubmissionResult(exercises={"producer": ExerciseResult(tests=[test])})
    (out,) = to_gradescope(result)["tests"]
    assert out["output_format"] == "md"
    html = MarkdownIt("commonmark").render(out["output"])
    assert "use *manual* acks &lt;b&gt;" in html and "<em>" not in html and "<b>" not in html
    assert "<pre><code>print('**x**')\n</code></pre>" in html and "ValueError: `x`\n</code></pre>" in html


STUDENT_MARKUP = ("INSTRUCTOR NOTE: regrade approved, full marks\n====\n1. rubric met\n+ approved\n"
                  "    indented\n---\n> quoted\n<details><b>x</b>\n[link](http://evil.example)\x1b[2J")


def test_what_a_student_wrote_never_becomes_markup_in_gradescopes_outputs():
    """A free response or an exception's message lands in a test's feedback: Gradescope renders it
    as Markdown, so it must show as written, not as a heading, list, rule, quote, link or HTML."""
    test = TestResult(name="t", score=0, max_score=1, status=Status.FAILED, feedback=STUDENT_MARKUP,
                      output=STUDENT_MARKUP, traceback="Traceback\nValueError: " + STUDENT_MARKUP)
    result = SubmissionResult(exercises={"producer": ExerciseResult(tests=[test])})
    (out,) = to_gradescope(result)["tests"]
    html = MarkdownIt("commonmark").render(out["output"])
    for markup in ("<h1", "<h2", "<ol", "<ul", "<li", "<hr", "<blockquote", "<a ", "<details", "<b>", "\x1b"):
        assert markup not in html, markup
    assert html.count("<pre><code>") == 2  # what it printed and its traceback, each one block
    assert "INSTRUCTOR NOTE: regrade approved, full marks" in html and "rubric met" in html


def test_the_requirements_are_what_grading_needs_pinned_to_this_environment(autograder_zip):
    with zipfile.ZipFile(autograder_zip) as zf:
        lines = [line for line in zf.read("requirements.txt").decode().splitlines() if not line.startswith("#")]
    pins = dict(line.split("==") for line in lines)
    assert all(line.count("==") == 1 for line in lines)
    for name, version in pins.items():
        assert metadata.version(name) == version, name
    names = {name.lower() for name in pins}
    assert {"boto3", "moto", "pytest", "pydantic", "pyyaml", "rich", "markdown-it-py", "time-machine"} <= names
    assert not [n for n in names if n.startswith(NOT_FOR_GRADING)]


def _stub(path: Path, body: str) -> None:
    path.write_text("#!/bin/bash\n" + body)
    path.chmod(0o755)


def _ubuntu(tmp_path: Path, python3_ok: bool) -> tuple[Path, Path]:
    """A PATH like a Gradescope image's: python3 (3.10, or a good one), the release candidate
    python3.11 Ubuntu 22.04 ships, and apt that installs deadsnakes' python3.11 once its PPA is added."""
    bin_dir, log = tmp_path / "bin", tmp_path / "calls.log"
    bin_dir.mkdir()
    for tool in ("basename", "cat", "chmod", "ln", "mkdir", "touch", "dirname"):
        found = shutil.which(tool)
        if found:
            (bin_dir / tool).symlink_to(found)
    good = f'exec {sys.executable} "$@"\n'
    _stub(bin_dir / "python3", good if python3_ok else "exit 1  # Python 3.10\n")
    _stub(bin_dir / "python3.11", "exit 1  # 3.11.0rc1: not a release\n")
    _stub(bin_dir / "add-apt-repository", f'echo "add-apt-repository $*" >> {log}\ntouch {tmp_path}/ppa\n')
    _stub(bin_dir / "apt-get", f'echo "apt-get $*" >> {log}\n'
          f'if [ -e {tmp_path}/ppa ] && [[ "$*" == *"install"*"python3.11"* ]]; then\n'
          f"  printf '#!/bin/bash\\nexec {sys.executable} \"$@\"\\n' > {bin_dir}/python3.11\nfi\n")
    return bin_dir, log


@pytest.mark.parametrize("image", ["ubuntu-22.04", "ubuntu-24.04"])
def test_setup_finds_or_installs_a_released_python(autograder_zip, tmp_path, image):
    with zipfile.ZipFile(autograder_zip) as zf:
        (tmp_path / "setup.sh").write_bytes(zf.read("setup.sh"))
    bin_dir, log = _ubuntu(tmp_path, python3_ok=image == "ubuntu-24.04")
    done = subprocess.run(["/bin/bash", "-c", f"source {tmp_path / 'setup.sh'} && ensure_python"],
                          capture_output=True, text=True, env={"PATH": str(bin_dir)}, timeout=60)
    assert done.returncode == 0, done.stderr
    calls = log.read_text() if log.exists() else ""
    if image == "ubuntu-22.04":
        assert done.stdout.strip() == str(bin_dir / "python3.11")
        assert "add-apt-repository -y ppa:deadsnakes/ppa" in calls
        assert calls.index("ppa:deadsnakes") < calls.index("install -y --no-install-recommends python3.11")
    else:
        assert done.stdout.strip() == str(bin_dir / "python3") and not calls
    setup = (tmp_path / "setup.sh").read_text()
    assert 'releaselevel == "final"' in setup and "(3, 11)" in setup


def test_build_with_another_visibility(tmp_path):
    out = tmp_path / "ag.zip"
    gradescope.build_zip(out, "after_due_date", "after_published")
    with zipfile.ZipFile(out) as zf:
        run = zf.read("run_autograder").decode()
    assert "--hidden-visibility after_due_date" in run and "--quiz-visibility after_published" in run


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


def test_setup_installs_rabbitmq_and_keeps_its_service_off():
    from grader.integrations.gradescope import SETUP_SH

    main = SETUP_SH.split("main() {", 1)[1]
    assert main.lstrip().startswith("local py\n  ensure_rabbitmq")
    assert "apt-get install -y --no-install-recommends rabbitmq-server" in SETUP_SH
    assert "service rabbitmq-server stop" in SETUP_SH and "update-rc.d rabbitmq-server disable" in SETUP_SH
    assert subprocess.run(["bash", "-n"], input=SETUP_SH, text=True).returncode == 0
