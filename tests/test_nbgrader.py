"""The nbgrader integration: the course it builds, run through the real nbgrader, grades like brokerlab.

The end-to-end tests drive nbgrader's own command line on a fresh course in a temporary folder,
with a kernel spec of their own so the kernel is this interpreter (the one with the package).
"""
from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Iterator

import nbformat
import pytest
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.nbgraderformat import MetadataValidator

from grader.cli import main as brokerlab_main
from grader.errors import UserError
from grader.integrations.nbgrader import runtime
from grader.integrations.nbgrader.cells import (QUIZ_NOTEBOOK, AnswerCellError, answer_target, answers_yaml,
                                                grade_id, notebook_name, read_answer, split_cell)
from grader.integrations.nbgrader.exporter import (COLUMNS, POINTS_POSSIBLE, CanvasAssignmentIdMissing,
                                                   CanvasCsvExportPlugin)
from grader.integrations.nbgrader.notebooks import (BEGIN, BEGIN_HIDDEN, BuildError, answer_code, build_notebooks,
                                                    hidden_tests, key_answer, python_value, solved)
from grader.integrations.nbgrader.submitted import find_nbgrader_students, read_notebooks, write_students
from grader.paths import EXERCISE_FILES, EXERCISES, SOLUTIONS
from grader.quiz.grading import grade_answers
from grader.quiz.loader import load_bank
from grader.results import Status

ASSIGNMENT = "ps5"
EXPORTER = "grader.integrations.nbgrader.exporter.CanvasCsvExportPlugin"
BANK = load_bank()
FREE = {(quiz.id, q.id) for quiz in BANK.values() for q in quiz.questions if q.type == "free_response"}
CODE_POINTS = sum(t.points for e in EXERCISE_FILES for t in hidden_tests(e))
QUIZ_POINTS = sum(q.points for quiz in BANK.values() for q in quiz.questions)
AUTO_QUIZ_POINTS = sum(q.points for quiz in BANK.values() for q in quiz.questions if (quiz.id, q.id) not in FREE)


# ----------------------------------------------------------------------------- building blocks

def test_answer_code_moves_helpers_into_functions_and_keeps_strings():
    stub = ('"""Stub."""\nimport json\n\n\ndef f(x, y=2):\n    """Doc of f."""\n    raise NotImplementedError\n\n\n'
            'def g():\n    """Doc of g."""\n    raise NotImplementedError\n')
    solution = ('"""Solution."""\nimport json\nimport re\n\n# the limit\nLIMIT = 3\nSQL = """\nSELECT 1\n"""\n\n\n'
                'def _helper(v):\n    return re.sub("a", "b", v) * LIMIT\n\n\n'
                'def f(x, y=2):\n    """Their doc."""\n    # a comment kept\n    return _helper(x) + SQL\n\n\n'
                'def g():\n    return json.dumps(1)\n')
    code = answer_code(stub, solution, "m.py")
    assert "Their doc" not in code and "Doc of f." in code
    released = _release(code)
    assert "LIMIT" not in released and "_helper" not in released and released.count("raise NotImplementedError()") == 2
    namespace: dict[str, Any] = {}
    exec(compile(_finish(code), "m.py", "exec"), namespace)
    assert namespace["f"]("a") == "bbb\nSELECT 1\n"  # the SQL string kept its exact text
    assert namespace["g"]() == "1"
    assert "    # a comment kept" in code
    with pytest.raises(BuildError, match="takes"):
        answer_code(stub, solution.replace("def f(x, y=2)", "def f(x, y=3)"), "m.py")


@pytest.mark.parametrize("exercise", list(EXERCISE_FILES))
def test_released_answer_cell_is_the_stub(exercise):
    import ast

    name = EXERCISE_FILES[exercise]
    code = answer_code((EXERCISES / name).read_text(), (SOLUTIONS / name).read_text(), name)
    stub, released = ast.parse((EXERCISES / name).read_text()), ast.parse(_release(code))
    shape = lambda tree: [(n.name, ast.dump(n.args), ast.get_docstring(n)) for n in tree.body  # noqa: E731
                          if isinstance(n, ast.FunctionDef)]
    assert shape(released) == shape(stub)


def test_hidden_tests_are_what_the_grader_runs(grader):
    result = grader.grade(SOLUTIONS)
    for exercise in EXERCISE_FILES:
        graded = [(t.name, t.max_score) for t in result.exercises[exercise].tests]
        assert [(t.name, t.points) for t in hidden_tests(exercise)] == graded


def test_notebooks_have_valid_nbgrader_metadata_and_the_suites_points():
    notebooks = build_notebooks()
    assert set(notebooks) == {notebook_name(e) for e in EXERCISE_FILES} | {QUIZ_NOTEBOOK}
    total = 0.0
    for name, notebook in notebooks.items():
        nbformat.validate(notebook)
        MetadataValidator().validate_nb(notebook)
        metas = [c.metadata["nbgrader"] for c in notebook.cells]
        ids = [m["grade_id"] for m in metas]
        assert len(ids) == len(set(ids)), name
        for cell, meta in zip(notebook.cells, metas):
            if meta["grade"] and not meta["solution"]:
                assert meta["locked"] and BEGIN_HIDDEN in cell.source and cell.cell_type == "code"
            if meta["solution"] and cell.cell_type == "code":
                assert split_cell(cell.source) is not None and BEGIN in cell.source and not meta["locked"]
            total += meta.get("points", 0) if meta["grade"] else 0
    for exercise in EXERCISE_FILES:
        cells = {c.metadata["nbgrader"]["grade_id"]: c for c in notebooks[notebook_name(exercise)].cells}
        for test in hidden_tests(exercise):
            assert cells[grade_id(exercise, test.name)].metadata["nbgrader"]["points"] == test.points
    assert total == CODE_POINTS + QUIZ_POINTS


def test_every_answer_key_earns_full_marks_through_answers_yaml():
    for quiz in BANK.values():
        answers = {q.id: read_answer(f"answer = {python_value(key_answer(q))}")
                   for q in quiz.questions if q.type != "free_response"}
        result = grade_answers(answers_yaml({quiz.id: answers}).decode(), BANK)[quiz.id]
        for test in result.tests:
            if test.status is not Status.NEEDS_GRADING and test.name.split(":")[0] in answers:
                assert test.score == test.max_score, test.name


@pytest.mark.parametrize("body, expected", [
    ('answer = None  # one letter\n# YOUR CODE HERE\nraise NotImplementedError()', None),
    ('answer = None\nanswer = "C"\nraise NotImplementedError()', "C"),
    ("answer = ('A', 'D')", ["A", "D"]),
    ("answer = {1: 'B', 2: 'D'}", {1: "B", 2: "D"}),
    ("answer = True", True),
    ("answer: float = 12.5", 12.5),
    ("x = 1", None),
])
def test_read_answer(body, expected):
    assert read_answer(body) == expected


@pytest.mark.parametrize("body, says", [("answer = C", "not a plain value"), ("answer = (", "line 1")])
def test_read_answer_refuses_what_it_cannot_read(body, says):
    with pytest.raises(AnswerCellError, match=says):
        read_answer(body)


def test_split_cell():
    assert split_cell("%%brokerlab sqs_producer.py\nx = 1")[1] == "x = 1"  # type: ignore[index]
    assert split_cell("%%brokerlab answers.yaml checkpoint q1\nanswer = 'C'")[0] == answer_target("checkpoint", "q1")  # type: ignore[index]
    assert split_cell("%%brokerlabx sqs_producer.py\n") is None
    assert split_cell("%%brokerlab other.py\n") is None
    assert split_cell("# %%brokerlab sqs_producer.py\n") is None


# ----------------------------------------------------------------------------- the kernel side

def test_runtime_grades_a_kept_cell_and_reports_each_test(capsys):
    runtime._files.clear()
    with pytest.raises(runtime.HiddenTestFailed, match="was not run"):
        runtime.run_hidden("payment", "charges_once_pays_and_sends_receipt")
    runtime.brokerlab_cell("payment_handler.py", (SOLUTIONS / "payment_handler.py").read_text())
    runtime.run_hidden("payment", "charges_once_pays_and_sends_receipt")
    assert "Passed: 4 of 4 points." in capsys.readouterr().out
    runtime.brokerlab_cell("payment_handler.py", (EXERCISES / "payment_handler.py").read_text())
    with pytest.raises(runtime.HiddenTestFailed, match="NotImplementedError"):
        runtime.run_hidden("payment", "charges_once_pays_and_sends_receipt")
    runtime.brokerlab_cell("payment_handler.py", "def process_payment(:\n")
    assert "line 1" in capsys.readouterr().err


def test_runtime_quiz_partial_credit_is_the_cells_value(capsys):
    runtime.brokerlab_cell("answers.yaml concepts q1", 'answer = ["D", "B", "F", "A", "C", "E"]\n')
    assert runtime.grade_answer("concepts", "q1") == pytest.approx(1.8667)
    runtime.brokerlab_cell("answers.yaml concepts q1", 'answer = ["D", "B", "F", "A", "E", "C"]\n')
    assert runtime.grade_answer("concepts", "q1") is None
    runtime.brokerlab_cell("answers.yaml checkpoint q1", "answer = Z\n")
    assert "cannot read" in capsys.readouterr().err
    with pytest.raises(runtime.HiddenTestFailed, match="not a plain value"):
        runtime.grade_answer("checkpoint", "q1")


def test_the_visible_checks_fail_on_the_stub_and_stay_out_of_autograde(monkeypatch, capsys):
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    runtime.brokerlab_cell("payment_handler.py", (EXERCISES / "payment_handler.py").read_text())
    with pytest.raises(runtime.HiddenTestFailed, match="does not pass the public checks yet"):
        runtime.check_public("payment")
    runtime.brokerlab_cell("answers.yaml checkpoint q1", "answer = None\n")
    with pytest.raises(runtime.HiddenTestFailed, match="not answered yet"):
        runtime.check_answered("checkpoint", "q1")
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    runtime.check_public("payment")
    runtime.check_answered("checkpoint", "q1")
    monkeypatch.setenv("NBGRADER_EXECUTION", "validate")
    runtime.brokerlab_cell("payment_handler.py", (SOLUTIONS / "payment_handler.py").read_text())
    runtime.check_public("payment")
    assert "passes the public checks" in capsys.readouterr().out



# ----------------------------------------------------------------------------- reading submissions

def _write_student(root: Path, student: str, notebooks: dict[str, nbformat.NotebookNode]) -> Path:
    folder = root / student / ASSIGNMENT
    folder.mkdir(parents=True)
    for name, notebook in notebooks.items():
        nbformat.write(notebook, folder / name)
    return folder


def test_a_students_own_files_never_change_how_a_course_is_read(tmp_path):
    """A student folder of plain files (or a zip) in a course's submitted/ leaves it nbgrader's,
    given the course or its submitted/; classmates' notebooks are still read."""
    submitted = tmp_path / "course" / "submitted"
    _write_student(submitted, "ann", build_notebooks())
    (submitted / "mallory").mkdir()
    (submitted / "mallory" / "sqs_producer.py").write_text("x = 1\n")
    (submitted / "zed.zip").write_bytes(b"PK")
    (tmp_path / "course" / "nbgrader_config.py").write_text("")
    for source in (tmp_path / "course", submitted):
        students = find_nbgrader_students(source)
        assert students is not None and "ann" in students and "sqs_producer.py" in students["ann"].sources


def test_find_nbgrader_students_knows_its_trees(tmp_path):
    plain = tmp_path / "plain"
    (plain / "ann").mkdir(parents=True)
    (plain / "ann" / "sqs_producer.py").write_text("x = 1\n")
    (plain / "ann" / "work").mkdir()
    nbformat.write(nbformat.v4.new_notebook(), plain / "ann" / "work" / "scratch.ipynb")
    assert find_nbgrader_students(plain) is None
    assert write_students(plain, tmp_path / "out") is None
    notebooks = build_notebooks()
    submitted = tmp_path / "course" / "submitted"
    _write_student(submitted, "ann", {n: nb for n, nb in notebooks.items() if n != "sqs_consumer.ipynb"})
    (tmp_path / "course" / "nbgrader_config.py").write_text("")
    for source in (tmp_path / "course", submitted):
        students = find_nbgrader_students(source)
        assert students is not None and list(students) == ["ann"]
    ann = students["ann"]
    assert ann.problems == {"consumer": "sqs_consumer.ipynb is missing from the submission"}
    assert set(ann.sources) == {"sqs_producer.py", "payment_handler.py", "amqp_producer.py", "amqp_consumer.py",
                                "amqp_routing.py", "answers.yaml"}
    _write_student(submitted, "bob", {"sqs_producer.ipynb": notebooks["sqs_producer.ipynb"]})
    (submitted / "bob" / "ps6").mkdir()
    nbformat.write(notebooks["sqs_producer.ipynb"], submitted / "bob" / "ps6" / "sqs_producer.ipynb")
    with pytest.raises(UserError, match="ps5, ps6"):
        find_nbgrader_students(submitted)
    only = find_nbgrader_students(submitted, "ps6")
    assert list(only) == ["bob"] and "answers.yaml" not in only["bob"].sources  # type: ignore[index]
    assert write_students(submitted, tmp_path / "out", "ps5") == tmp_path / "out"
    assert sorted(p.name for p in (tmp_path / "out" / "ann").iterdir()) == [
        "amqp_consumer.py", "amqp_producer.py", "amqp_routing.py", "answers.yaml", "payment_handler.py",
        "sqs_producer.py"]


def test_a_cell_counts_only_in_its_own_notebook(tmp_path):
    quiz = build_notebooks()[QUIZ_NOTEBOOK]
    quiz.cells.append(nbformat.v4.new_code_cell("%%brokerlab sqs_producer.py\nx = 1\n"))
    folder = tmp_path / "s"
    folder.mkdir()
    nbformat.write(quiz, folder / QUIZ_NOTEBOOK)
    submission = read_notebooks(folder, "s")
    assert "sqs_producer.py" not in submission.sources
    assert submission.problems["producer"] == "sqs_producer.ipynb is missing from the submission"
    (folder / "sqs_producer.ipynb").write_text("{not json")
    submission = read_notebooks(folder, "s")
    assert submission.problems["producer"] == "sqs_producer.ipynb has no answer cell starting with %%brokerlab sqs_producer.py"
    assert any(note.startswith("sqs_producer.ipynb: not a readable notebook") for note in submission.skipped)


# ----------------------------------------------------------------------------- the Canvas CSV

class _Gradebook:
    def __init__(self) -> None:
        self.assignments = [SimpleNamespace(name="ps5", max_score=132.0), SimpleNamespace(name="ps6", max_score=10.0)]
        self.students = [SimpleNamespace(id="ann", first_name="Ann", last_name="Lee"),
                         SimpleNamespace(id="bob", first_name=None, last_name=None)]

    def find_submission(self, assignment: str, student: str) -> Any:
        if (assignment, student) == ("ps5", "ann"):
            return SimpleNamespace(score=100.5, late_submission_penalty=0.25, needs_manual_grade=True)
        raise MissingEntry()


def test_canvas_csv_columns_points_row_and_scores(tmp_path):
    dest = tmp_path / "canvas.csv"
    ids = {"ps5": 12345, "ps6": 678}
    plugin = CanvasCsvExportPlugin(to=str(dest), canvas_assignment_ids=ids)
    plugin.export(_Gradebook())
    rows = list(csv.reader(dest.open(newline="")))
    assert rows[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "ps5 (12345)", "ps6 (678)"]
    assert rows[1] == [POINTS_POSSIBLE, "", "", "", "", "132", "10"]
    assert rows[2] == ["Lee, Ann", "", "", "ann", "", "100.25", "0"]
    assert rows[3] == ["bob", "", "", "bob", "", "0", "0"]
    CanvasCsvExportPlugin(to=str(dest), assignment=["ps6"], student=["bob"], canvas_assignment_ids=ids).export(
        _Gradebook())
    assert list(csv.reader(dest.open(newline=""))) == [COLUMNS + ["ps6 (678)"],
                                                      [POINTS_POSSIBLE, "", "", "", "", "10"],
                                                      ["bob", "", "", "bob", "", "0"]]


def test_canvas_csv_refuses_an_assignment_without_its_canvas_id(tmp_path):
    dest = tmp_path / "canvas.csv"
    with pytest.raises(CanvasAssignmentIdMissing, match=r"'ps6' has no Canvas assignment id.*canvas_assignment_ids"):
        CanvasCsvExportPlugin(to=str(dest), canvas_assignment_ids={"ps5": 1}).export(_Gradebook())
    assert not dest.exists()


def test_init_writes_a_course_and_refuses_to_overwrite(tmp_path, capsys):
    course = tmp_path / "course"
    assert brokerlab_main(["nbgrader", "init", str(course), "--assignment", "week5"]) == 0
    assert sorted(p.name for p in (course / "source" / "week5").iterdir()) == sorted(
        [*build_notebooks(), "fakes.py"])
    config = (course / "nbgrader_config.py").read_text()
    assert "c.CourseDirectory.course_id = 'course'" in config and "c.Execute.timeout" in config
    capsys.readouterr()
    assert brokerlab_main(["nbgrader", "init", str(course), "--assignment", "week5"]) == 2
    assert "already exists; pass --force" in capsys.readouterr().err
    assert brokerlab_main(["nbgrader", "init", str(course), "--assignment", "week 5"]) == 2


# ----------------------------------------------------------------------------- end to end, real nbgrader

def _run(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{' '.join(args[2:])} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


def _nbgrader(*args: str, course: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return _run([sys.executable, "-m", "nbgrader", *args], course, env)


def _jupyter_env(folder: Path) -> dict[str, str]:
    """Jupyter and IPython looking only here, with a python3 kernel that is this interpreter."""
    kernel = folder / "jupyter" / "kernels" / "python3"
    kernel.mkdir(parents=True)
    (kernel / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (brokerlab tests)", "language": "python"}))
    env = dict(os.environ)
    env.update(JUPYTER_PATH=str(folder / "jupyter"), JUPYTER_DATA_DIR=str(folder / "jupyter-data"),
               JUPYTER_CONFIG_DIR=str(folder / "jupyter-config"), JUPYTER_RUNTIME_DIR=str(folder / "jupyter-runtime"),
               IPYTHONDIR=str(folder / "ipython"), PYTHONDONTWRITEBYTECODE="1",
               # nbgrader runs `alembic` from PATH to create its gradebook
               PATH=str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""))
    env.pop("BROKERLAB_DEBUG", None)
    return env


def _mixed(released: dict[str, Any], finished: dict[str, Any]) -> dict[str, Any]:
    """A student with some of everything: a bug, an untouched exercise, partial, wrong and unreadable answers."""
    notebooks = {name: nbformat.from_dict(json.loads(json.dumps(nb))) for name, nb in finished.items()}
    notebooks["sqs_consumer.ipynb"] = released["sqs_consumer.ipynb"]
    edits = {
        "producer_answer": lambda s: s + ('\n\ndef make_task(task_type, task_data, now=None):\n'
                                          '    return {"taskType": task_type, "data": task_data,\n'
                                          '            "timestamp": datetime.now(timezone.utc).isoformat() + "Z"}\n'),
        "concepts_q1_answer": lambda s: '%%brokerlab answers.yaml concepts q1\nanswer = ["D", "B", "F", "A", "C", "E"]',
        "checkpoint_q1_answer": lambda s: '%%brokerlab answers.yaml checkpoint q1\nanswer = "A"',
        "checkpoint_q2_answer": lambda s: "%%brokerlab answers.yaml checkpoint q2\nanswer = C",
        "discussion_q4_answer": lambda s: "YOUR ANSWER HERE",
    }
    for notebook in notebooks.values():
        for cell in notebook.cells:
            edit = edits.get(cell.metadata.get("nbgrader", {}).get("grade_id"))
            if edit:
                cell.source = edit(cell.source)
    return notebooks


@pytest.fixture(scope="module")
def course(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimpleNamespace]:
    """A course made by brokerlab, released and autograded by nbgrader: three students, one call each."""
    folder = tmp_path_factory.mktemp("nbgrader")
    env = _jupyter_env(folder)
    course = folder / "course"
    _run([sys.executable, "-m", "grader", "nbgrader", "init", str(course), "--assignment", ASSIGNMENT], folder, env)
    _nbgrader("generate_assignment", ASSIGNMENT, "--force", course=course, env=env)
    source = {p.name: nbformat.read(p, as_version=4) for p in (course / "source" / ASSIGNMENT).glob("*.ipynb")}
    released = {p.name: nbformat.read(p, as_version=4) for p in (course / "release" / ASSIGNMENT).glob("*.ipynb")}
    finished = {name: solved(nb, source[name]) for name, nb in released.items()}
    students = {"finished": finished, "untouched": released, "mixed": _mixed(released, finished)}
    for student, notebooks in students.items():
        _write_student(course / "submitted", student, notebooks)
    _nbgrader("autograde", ASSIGNMENT, course=course, env=env)
    yield SimpleNamespace(path=course, env=env, source=source, released=released, folder=folder,
                          db=f"sqlite:///{course / 'gradebook.db'}")


def test_released_notebooks_hold_no_solution_and_no_hidden_test(course):
    secrets = []
    for name, notebook in course.source.items():
        for cell in notebook.cells:
            meta = cell.metadata["nbgrader"]
            if meta["solution"] and cell.cell_type == "code":
                region = cell.source.split(BEGIN, 1)[1]
                secrets += [line.strip() for line in region.splitlines() if len(line.strip()) > 30
                            and "SOLUTION" not in line and line.strip() not in (EXERCISES / _file(name)).read_text()]
            elif meta["solution"]:
                secrets.append(cell.source.strip()[:60])
    assert len(secrets) > 40
    for name, notebook in course.released.items():
        text = "\n".join(cell.source for cell in notebook.cells)
        assert "BEGIN SOLUTION" not in text and "BEGIN HIDDEN TESTS" not in text and "run_hidden" not in text
        assert "grade_answer" not in text
        leaked = [s for s in secrets if s in text]
        assert not leaked, f"{name} leaks {leaked[:3]}"
        answers = [line for cell in notebook.cells for line in cell.source.splitlines()
                   if line.startswith("answer =")]
        assert all(line.startswith("answer = None") for line in answers)


def _file(notebook: str) -> str:
    return notebook.removesuffix(".ipynb") + ".py" if notebook != QUIZ_NOTEBOOK else "README.md"


def _nbgrader_cells(db: str, student: str) -> dict[str, tuple[float | None, float]]:
    with Gradebook(db) as gradebook:
        return {g.name: (g.auto_score, g.max_score) for notebook in
                gradebook.find_submission(ASSIGNMENT, student).notebooks for g in notebook.grades}


def _brokerlab_cells(result: Any) -> dict[str, tuple[float, float, Status]]:
    cells = {}
    for key, exercise in result.exercises.items():
        for test in exercise.tests:
            if exercise.kind == "code":
                cell = grade_id(key, test.name)
            else:
                question = test.name.split(":", 1)[0]
                cell = grade_id(key, question, "answer" if (key, question) in FREE else "test")
            cells[cell] = (test.score, test.max_score, test.status)
    return cells


def test_brokerlab_agrees_with_nbgrader_cell_by_cell(course, grader):
    students = find_nbgrader_students(course.path)
    assert students is not None and sorted(students) == ["finished", "mixed", "untouched"]
    totals = {}
    for student, submission in students.items():
        theirs = _nbgrader_cells(course.db, student)
        ours = _brokerlab_cells(grader.grade_submission(submission))
        assert set(ours) == set(theirs), student
        for cell, (auto_score, max_score) in theirs.items():
            score, our_max, status = ours[cell]
            assert our_max == max_score, (student, cell)
            if auto_score is None:
                assert status is Status.NEEDS_GRADING, (student, cell)
            else:
                assert score == pytest.approx(auto_score, abs=1e-4), (student, cell, status)
        totals[student] = sum(s for s, _, _ in ours.values())
    assert totals["finished"] == CODE_POINTS + AUTO_QUIZ_POINTS
    assert totals["untouched"] == 0
    assert 0 < totals["mixed"] < totals["finished"]
    mixed = _nbgrader_cells(course.db, "mixed")
    assert 0 < mixed["concepts_q1_test"][0] < mixed["concepts_q1_test"][1]  # partial credit reached nbgrader
    assert mixed["checkpoint_q2_test"][0] == 0 and mixed["consumer_process_task_valid"][0] == 0


def test_export_finished_full_marks_untouched_zero_and_canvas_csv(course):
    with Gradebook(course.db) as gradebook:
        for quiz_id, question in FREE:
            cell = grade_id(quiz_id, question, "answer")
            grade = gradebook.find_grade(cell, QUIZ_NOTEBOOK.removesuffix(".ipynb"), ASSIGNMENT, "finished")
            grade.manual_score = grade.max_score
        gradebook.db.commit()
        mixed = gradebook.find_submission(ASSIGNMENT, "mixed").score
    _nbgrader("export", course=course.path, env=course.env)
    grades = {row["student_id"]: row for row in csv.DictReader((course.path / "grades.csv").open())}
    assert float(grades["finished"]["score"]) == float(grades["finished"]["max_score"]) == CODE_POINTS + QUIZ_POINTS
    assert float(grades["untouched"]["score"]) == 0
    _nbgrader("export", f"--exporter={EXPORTER}", "--to", "canvas.csv",
              "--CanvasCsvExportPlugin.canvas_assignment_ids", f"{ASSIGNMENT}=4242",
              course=course.path, env=course.env)
    rows = list(csv.reader((course.path / "canvas.csv").open(newline="")))
    assert rows[0] == COLUMNS + [f"{ASSIGNMENT} (4242)"]
    assert rows[1] == [POINTS_POSSIBLE, "", "", "", "", f"{CODE_POINTS + QUIZ_POINTS:g}"]
    scores = {row[3]: float(row[5]) for row in rows[2:]}
    assert scores == {"finished": CODE_POINTS + QUIZ_POINTS, "untouched": 0.0, "mixed": pytest.approx(mixed)}


def test_brokerlab_grade_on_the_extracted_code_matches_nbgrader(course):
    out = course.folder / "extracted"
    _run([sys.executable, "-m", "grader", "nbgrader", "extract", str(course.path), str(out)], course.folder, course.env)
    manual = course.folder / "manual.yaml"
    manual.write_text("finished:\n" + "".join(f"  {quiz}:\n    {question}: 3\n" for quiz, question in sorted(FREE)))
    done = _run([sys.executable, "-m", "grader", "grade", str(out / "finished"), "--format", "json",
                 "--manual-scores", str(manual)], course.folder, course.env)
    result = json.loads(done.stdout)
    with Gradebook(course.db) as gradebook:
        auto = {s: sum(a or 0 for a, _ in _nbgrader_cells(course.db, s).values()) for s in ("finished", "mixed")}
        max_score = gradebook.find_assignment(ASSIGNMENT).max_score
    assert result["score"] == result["max_score"] == max_score
    done = _run([sys.executable, "-m", "grader", "grade", str(out / "mixed"), "--format", "json"],
                course.folder, course.env)
    assert json.loads(done.stdout)["score"] == pytest.approx(auto["mixed"])


def test_grade_all_takes_the_nbgrader_course_and_agrees_with_nbgrader(course):
    out = course.folder / "bulk"
    _run([sys.executable, "-m", "grader", "grade-all", str(course.path), "--out", str(out), "--quiet"],
         course.folder, course.env)
    rows = {row["student_id"]: row for row in csv.DictReader((out / "grades.csv").open())}
    assert sorted(rows) == ["finished", "mixed", "untouched"]
    for student in rows:
        auto = sum(a or 0 for a, _ in _nbgrader_cells(course.db, student).values())
        assert float(rows[student]["total"]) == pytest.approx(auto), student
    assert float(rows["untouched"]["total"]) == 0


def test_nbgrader_validate_fails_an_untouched_notebook_and_passes_a_finished_one(course):
    released = [str(course.path / "release" / ASSIGNMENT / notebook_name(e)) for e in EXERCISE_FILES]
    done = subprocess.run([sys.executable, "-m", "nbgrader", "validate", *released], cwd=course.path, env=course.env,
                          capture_output=True, text=True, timeout=600)
    assert "Success!" not in done.stdout
    assert done.stdout.count("VALIDATION FAILED ON") == len(EXERCISE_FILES), done.stdout[-2000:]
    assert "does not pass the public checks yet" in done.stdout
    finished = course.path / "submitted" / "finished" / ASSIGNMENT / "sqs_producer.ipynb"
    done = _nbgrader("validate", str(finished), course=course.path, env=course.env)
    assert "Success! Your notebook passes all the tests." in done.stdout


# ----------------------------------------------------------------------------- helpers

def _release(code: str) -> str:
    """What nbgrader's ClearSolutions makes of an answer cell's code."""
    out, inside = [], False
    for line in code.splitlines():
        if "BEGIN SOLUTION" in line:
            indent = line[:len(line) - len(line.lstrip())]
            out += [indent + "# YOUR CODE HERE", indent + "raise NotImplementedError()"]
            inside = True
        elif "END SOLUTION" in line:
            inside = False
        elif not inside:
            out.append(line)
    return "\n".join(out) + "\n"


def _finish(code: str) -> str:
    return "\n".join(line for line in code.splitlines() if "SOLUTION" not in line) + "\n"
