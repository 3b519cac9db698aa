"""The course's nbgrader notebooks, built with nbformat from the package's own material.

Pure: the stubs, the solutions, the hidden suites' points, the quiz bank and the student README
go in, notebooks come out; nothing is written here (``command`` does that). Nothing is copied
either: each test cell calls into the package (``runtime``), which grades with the same hidden
suites and quiz engine as ``brokerlab grade``.

An exercise's answer cell is its stub file, with each function's solution between
``### BEGIN SOLUTION`` and ``### END SOLUTION`` where the stub says ``raise NotImplementedError``:
nbgrader puts its own ``raise NotImplementedError()`` back when it releases the notebook. The
solution's private helpers move into the functions that use them, because a solution region at
module level would become a ``raise`` that stops the whole file from importing.
"""
from __future__ import annotations

import ast
import copy
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
from nbformat.notebooknode import NotebookNode

from grader.integrations.nbgrader.cells import (QUIZ_NOTEBOOK, answer_target, exercise_target, grade_id,
                                                notebook_name)
from grader.paths import EXERCISE_FILES, EXERCISES, SOLUTIONS, SUITES
from grader.quiz.schema import FreeResponse, Quiz

SCHEMA_VERSION = 3
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
BEGIN_HIDDEN, END_HIDDEN = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
SETUP_SOURCE = "%load_ext grader.integrations.nbgrader.runtime"
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
# The student README's sections that are each exercise's text from the course.
COURSE_SECTIONS: dict[str, tuple[str, ...]] = {
    "producer": ("A broker on your machine", "(course step 1)"),
    "consumer": ("A broker on your machine", "(course step 2)", "(course step 5)"),
    "payment": ("(discussion question 2)",),
    "amqp_producer": ("A RabbitMQ on your machine", "(AMQP track, step 1)"),
    "amqp_consumer": ("A RabbitMQ on your machine", "(AMQP track, step 2)"),
    "amqp_routing": ("A RabbitMQ on your machine", "(AMQP track, routing)"),
}
TITLES = {"producer": "Exercise 1: the producer", "consumer": "Exercise 2: the consumer",
          "payment": "Exercise 3: payments that survive redelivery",
          "amqp_producer": "Exercise A1: a durable, confirmed producer on RabbitMQ",
          "amqp_consumer": "Exercise A2: a RabbitMQ consumer with manual acks and dead-lettering",
          "amqp_routing": "Exercise A3: routing with a topic exchange"}


class BuildError(Exception):
    """The package's material does not fit together (a stub without its solution, a test without points)."""


# ----------------------------------------------------------------------------- cell metadata

def _cell(cell: NotebookNode, *, grade: bool, solution: bool, locked: bool, cell_id: str,
          points: float | None = None) -> NotebookNode:
    meta: dict[str, Any] = {"grade": grade, "grade_id": cell_id, "locked": locked, "schema_version": SCHEMA_VERSION,
                            "solution": solution}
    if grade:
        meta["points"] = points
    cell.metadata["nbgrader"] = meta
    return cell


def locked_markdown(text: str, cell_id: str) -> NotebookNode:
    """Text the student reads and cannot change (nbgrader restores locked cells when it grades)."""
    return _cell(nbformat.v4.new_markdown_cell(text), grade=False, solution=False, locked=True, cell_id=cell_id)


def locked_code(source: str, cell_id: str) -> NotebookNode:
    """Code the student runs but cannot change, such as loading the ``%%brokerlab`` magic."""
    return _cell(nbformat.v4.new_code_cell(source), grade=False, solution=False, locked=True, cell_id=cell_id)


def answer_cell(source: str, cell_id: str) -> NotebookNode:
    """An autograded answer: the student writes here; the test cells grade it."""
    return _cell(nbformat.v4.new_code_cell(source), grade=False, solution=True, locked=False, cell_id=cell_id)


def manual_answer_cell(text: str, cell_id: str, points: float) -> NotebookNode:
    """A written answer a person grades (nbgrader's manually graded answer)."""
    return _cell(nbformat.v4.new_markdown_cell(text), grade=True, solution=True, locked=False, cell_id=cell_id,
                 points=points)


def autograder_cell(visible: str, hidden: str, cell_id: str, points: float) -> NotebookNode:
    """A locked autograder test: the released notebook keeps only ``visible``.

    ``visible`` must fail on the stub: nbgrader validate runs only that part, and a cell that
    cannot fail tells a student with an untouched notebook that it passes every test.
    """
    source = f"{visible}\n{BEGIN_HIDDEN}\n{hidden}\n{END_HIDDEN}"
    return _cell(nbformat.v4.new_code_cell(source), grade=True, solution=False, locked=True, cell_id=cell_id,
                 points=points)


def new_notebook(cells: list[NotebookNode]) -> NotebookNode:
    """A notebook on the ``python3`` kernel, which nbgrader starts to autograde it."""
    return nbformat.v4.new_notebook(cells=cells, metadata={"kernelspec": dict(KERNELSPEC),
                                                           "language_info": {"name": "python"}})


# ----------------------------------------------------------------------------- the hidden suites

@dataclass(frozen=True)
class HiddenTest:
    """One test of a hidden suite, named as the grader names its result (no ``test_``)."""

    name: str
    points: float
    concept: str | None


def hidden_tests(exercise: str, suites: Path = SUITES) -> list[HiddenTest]:
    """The tests of an exercise's hidden suite with their points, in the order pytest runs them.

    Read from the source, not by running pytest: building a course must not grade anything.
    """
    path = suites / f"test_{exercise}.py"
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    constants: dict[str, Any] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            try:
                constants[node.targets[0].id] = ast.literal_eval(node.value)
            except (ValueError, TypeError, SyntaxError):
                pass

    def value(node: ast.expr) -> Any:
        if isinstance(node, ast.Name) and node.id in constants:
            return constants[node.id]
        try:
            return ast.literal_eval(node)
        except (ValueError, TypeError, SyntaxError):
            raise BuildError(f"{path.name}:{node.lineno}: a grade marker's value must be a constant") from None

    tests = []
    for node in tree.body:
        if not (isinstance(node, ast.FunctionDef) and node.name.startswith("test_")):
            continue
        marks = [d for d in node.decorator_list if isinstance(d, ast.Call)]
        if any(ast.unparse(d.func).endswith("mark.parametrize") for d in marks):
            raise BuildError(f"{path.name}: {node.name} is parametrized; one test cell per test needs one result")
        grade = next((d for d in marks if ast.unparse(d.func).endswith("mark.grade")), None)
        kwargs = {k.arg: value(k.value) for k in grade.keywords} if grade else {}
        tests.append(HiddenTest(node.name.removeprefix("test_"), float(kwargs.get("points", 1)),
                                kwargs.get("concept")))
    if not tests:
        raise BuildError(f"{path.name} has no tests")
    return tests


# ----------------------------------------------------------------------------- stub + solution

def _with_comments_above(source: str, node: ast.stmt) -> int:
    """The first line of ``node`` including its decorators and the comment lines right above it."""
    lines = source.splitlines()
    first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
    while first > 1 and lines[first - 2].strip().startswith("#"):
        first -= 1
    return first


def _bound_names(node: ast.stmt) -> set[str]:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {node.name}
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return {(a.asname or a.name).split(".")[0] for a in node.names}
    if isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        return {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
    return set()


def _used_names(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def _docstring_node(function: ast.FunctionDef) -> ast.stmt | None:
    first = function.body[0]
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
        return first
    return None


def _is_main_guard(node: ast.stmt) -> bool:
    return isinstance(node, ast.If) and "__name__" in _used_names(node.test)


def _frozen_lines(tree: ast.Module) -> set[int]:
    """Lines inside multi-line string values, which moving code must not re-indent (docstrings may be)."""
    docstrings = {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Expr)}
    frozen: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Constant, ast.JoinedStr)) and id(node) not in docstrings \
                and node.end_lineno and node.end_lineno > node.lineno:
            frozen.update(range(node.lineno + 1, node.end_lineno + 1))
    return frozen


def _moved(lines: list[str], first: int, last: int, indent: str, frozen: set[int]) -> list[str]:
    """Source lines ``first..last`` re-indented from their first line's indentation to ``indent``."""
    base = len(lines[first - 1]) - len(lines[first - 1].lstrip())
    out = []
    for number in range(first, last + 1):
        line = lines[number - 1]
        if number in frozen:
            out.append(line)
        elif not line.strip():
            out.append("")
        else:
            out.append(indent + line[min(base, len(line) - len(line.lstrip())):])
    return out


def _body_start(lines: list[str], function: ast.FunctionDef) -> int:
    """The first line of the solution's body after its docstring (the stub's docstring stays)."""
    doc = _docstring_node(function)
    if doc is not None:
        if len(function.body) == 1:
            raise BuildError(f"the solution's {function.name} has nothing but a docstring")
        first = doc.end_lineno + 1  # type: ignore[operator]
        while not lines[first - 1].strip():
            first += 1
        return first
    return _with_comments_above("\n".join(lines), function.body[0])


def answer_code(stub: str, solution: str, file_name: str = "") -> str:
    """The stub with each ``raise NotImplementedError`` replaced by the solution, between the markers.

    Every stub function must exist in the solution with the same parameters; the solution's other
    module-level names (helpers, constants, imports the stub lacks) go, in the solution's order, to
    the top of the solution region of each function that uses them.
    """
    stub_tree, solution_tree = ast.parse(stub), ast.parse(solution)
    stub_names = set().union(*(_bound_names(n) for n in stub_tree.body))
    solution_functions = {n.name: n for n in solution_tree.body if isinstance(n, ast.FunctionDef)}
    extras = []
    for node in solution_tree.body:
        if isinstance(node, ast.Expr) or _is_main_guard(node) or (
                isinstance(node, ast.ImportFrom) and node.module == "__future__"):
            continue
        if not _bound_names(node):
            raise BuildError(f"{file_name}: the solution's line {node.lineno} is neither a definition nor an import")
        if not _bound_names(node) <= stub_names:
            extras.append(node)
    provides = {name: node for node in extras for name in _bound_names(node)}

    def needed(function: ast.FunctionDef) -> list[ast.stmt]:
        wanted: list[ast.stmt] = []
        todo = [n for stmt in function.body for n in _used_names(stmt) if n in provides]
        while todo:
            item = provides[todo.pop()]
            if item not in wanted:
                wanted.append(item)
                todo.extend(n for n in _used_names(item) if n in provides)
        return sorted(wanted, key=lambda n: n.lineno)

    lines, theirs_lines = stub.splitlines(), solution.splitlines()
    frozen = _frozen_lines(solution_tree)
    replacements: list[tuple[int, int, list[str]]] = []
    for function in (n for n in stub_tree.body if isinstance(n, ast.FunctionDef)):
        body = [n for n in function.body if n is not _docstring_node(function)]
        if not (len(body) == 1 and isinstance(body[0], ast.Raise) and "NotImplementedError" in ast.unparse(body[0])):
            continue
        theirs = solution_functions.get(function.name)
        if theirs is None:
            raise BuildError(f"{file_name}: the solution has no {function.name}()")
        if _parameters(theirs) != _parameters(function):
            raise BuildError(f"{file_name}: {function.name}() takes {_parameters(function)} in the stub "
                             f"but {_parameters(theirs)} in the solution")
        raise_line = body[0].lineno
        indent = lines[raise_line - 1][:len(lines[raise_line - 1]) - len(lines[raise_line - 1].lstrip())]
        region = [indent + BEGIN]
        for helper in needed(theirs):
            first = _with_comments_above(solution, helper)
            region += _moved(theirs_lines, first, helper.end_lineno, indent, frozen) + [""]  # type: ignore[arg-type]
        region += _moved(theirs_lines, _body_start(theirs_lines, theirs), theirs.end_lineno,  # type: ignore[arg-type]
                         indent, frozen)
        region.append(indent + END)
        replacements.append((raise_line, body[0].end_lineno, region))  # type: ignore[arg-type]
    if not replacements:
        raise BuildError(f"{file_name}: the stub has no function that raises NotImplementedError")
    for first, last, region in reversed(replacements):
        lines[first - 1:last] = region
    return "\n".join(lines).rstrip("\n") + "\n"


def _parameters(function: ast.FunctionDef) -> list[str]:
    a = function.args
    names = [p.arg for p in a.posonlyargs + a.args]
    defaults = [None] * (len(names) - len(a.defaults)) + [ast.unparse(d) for d in a.defaults]
    shown = [f"{n}={d}" if d is not None else n for n, d in zip(names, defaults)]
    shown += [f"*{a.vararg.arg}"] if a.vararg else []
    shown += [f"{p.arg}={ast.unparse(d)}" if d is not None else p.arg for p, d in zip(a.kwonlyargs, a.kw_defaults)]
    shown += [f"**{a.kwarg.arg}"] if a.kwarg else []
    return shown


# ----------------------------------------------------------------------------- exercise notebooks

def course_text(exercise: str, readme: Path = EXERCISES / "README.md") -> str:
    """The exercise's sections of the student README (the course's steps, made gradable)."""
    text = readme.read_text(encoding="utf-8")
    sections = re.split(r"(?m)^(?=## )", text)
    wanted = [s for s in sections if s.startswith("## ") and any(k in s.splitlines()[0] for k in COURSE_SECTIONS[exercise])]
    if not wanted:
        raise BuildError(f"{readme.name} has no section for the {exercise} exercise ({COURSE_SECTIONS[exercise]})")
    return re.sub(r"(?m)^(#{2,5}) ", r"#\1 ", "\n".join(s.strip() for s in wanted))


def _how_it_works(file_name: str) -> str:
    return (f"## In this notebook\n\n"
            f"The code cell below is your `{file_name}`. Replace each `raise NotImplementedError()` with your "
            "code, and keep every name, argument and default as it is: the grader calls them exactly so.\n\n"
            f"- Its first line, `%%brokerlab {file_name}`, hands the code to the grader: running the cell checks "
            "that it is valid Python and keeps it for the tests, but does not run it here. Keep that line, "
            "and run the first code cell of the notebook before it.\n"
            "- Each test cell after it is one hidden test of the grader, worth the points it names. They run "
            "when your instructor grades the notebook, on your code in the grader's sandbox; until then each "
            "runs the exercise's public checks (as `brokerlab check` does), so `nbgrader validate` fails until "
            "they pass.\n"
            f"- To run your code as the text above describes, save the cell without its first line as "
            f"`{file_name}` next to this notebook.")


def exercise_notebook(exercise: str, exercises: Path = EXERCISES, solutions: Path = SOLUTIONS,
                      suites: Path = SUITES) -> NotebookNode:
    """One exercise: the course's text, the stub with its solution, one test cell per hidden test."""
    file_name = EXERCISE_FILES[exercise]
    code = answer_code((exercises / file_name).read_text(encoding="utf-8"),
                       (solutions / file_name).read_text(encoding="utf-8"), file_name)
    tests = hidden_tests(exercise, suites)
    total = sum(t.points for t in tests)
    cells = [
        locked_markdown(f"# {TITLES.get(exercise, exercise)} (`{file_name}`)\n\n{course_text(exercise, exercises / 'README.md')}"
                        f"\n\n{_how_it_works(file_name)}", grade_id(exercise, "intro")),
        locked_code(SETUP_SOURCE, grade_id(exercise, "setup")),
        answer_cell(f"{exercise_target(exercise).header}\n{code}", grade_id(exercise, "answer")),
        locked_markdown(f"## Tests\n\n{len(tests)} hidden tests, {total:g} points in all.", grade_id(exercise, "tests")),
    ]
    for test in tests:
        about = f" ({test.concept})" if test.concept else ""
        visible = (f"# Hidden test: {test.name}{about}, {_points(test.points)}.\n"
                   "# It runs when your instructor grades this notebook; until then this cell runs the public "
                   "checks.\n"
                   "from grader.integrations.nbgrader.runtime import check_public\n"
                   f"check_public({exercise!r})")
        hidden = ("from grader.integrations.nbgrader.runtime import run_hidden\n"
                  f"run_hidden({exercise!r}, {test.name!r})")
        cells.append(autograder_cell(visible, hidden, grade_id(exercise, test.name), test.points))
    return new_notebook(cells)


def _points(points: float) -> str:
    return f"{points:g} point" + ("" if points == 1 else "s")


# ----------------------------------------------------------------------------- the quiz notebook

HOW_TO_ANSWER = {
    "single": 'one letter in quotes, e.g. `answer = "B"`',
    "multiple": 'a list of every letter that applies, e.g. `answer = ["A", "C"]`',
    "true_false": "`answer = True` or `answer = False`",
    "short_answer": 'a word or short phrase in quotes, e.g. `answer = "a phrase"`',
    "numeric": "a number, e.g. `answer = 12.5`",
    "ordering": 'the list of letters, first to last, e.g. `answer = ["C", "A", "B"]`',
    "matching": 'a dict from item number to option letter, e.g. `answer = {1: "B", 2: "D"}`',
}


def python_value(value: Any) -> str:
    """A Python literal for an answer, as a student would type it (double-quoted text)."""
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(python_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{python_value(k)}: {python_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, float) and value.is_integer():
        return repr(int(value))
    return repr(value)


def key_answer(q: Any) -> Any:
    """The full-marks answer of an auto-graded question, in the form a student writes it."""
    kind = q.type
    if kind == "single":
        return next(letter for letter, c in q.choices.items() if c.correct)
    if kind == "multiple":
        return [letter for letter, c in q.choices.items() if c.correct]
    if kind == "true_false":
        return q.answer
    if kind == "short_answer":
        return (q.display or q.answers)[0]
    if kind == "numeric":
        return int(q.answer) if float(q.answer).is_integer() else q.answer
    if kind == "ordering":
        return list(q.answer)
    if kind == "matching":
        return {i: pair.answer for i, pair in enumerate(q.pairs, start=1)}
    raise BuildError(f"no answer key for a {kind} question")


def question_markdown(quiz: Quiz, q: Any) -> str:
    """A question as the student sees it: the prompt, its choices or items, and how to write the answer."""
    lines = [f"### {quiz.id} {q.id}: {q.title} ({_points(q.points)})", "", q.prompt.strip(), ""]
    if q.type in ("single", "multiple"):
        lines += [f"- **{letter})** {choice.text}" for letter, choice in q.choices.items()]
    elif q.type == "ordering":
        lines += [f"- **{letter}**: {item}" for letter, item in q.items.items()]
    elif q.type == "matching":
        lines += [f"{i}. {pair.prompt}" for i, pair in enumerate(q.pairs, start=1)]
        lines += ["", "Options:", ""] + [f"- **{letter}**: {option}" for letter, option in q.options.items()]
    if q.type == "free_response":
        lines += ["", "Write your answer in the cell below, in a few sentences: a person grades it."]
    else:
        unit = f" (in {q.unit})" if q.type == "numeric" and q.unit else ""
        lines += ["", f"Answer in the cell below with {HOW_TO_ANSWER[q.type]}{unit}."]
    return "\n".join(lines).replace("\n\n\n", "\n\n")


def quiz_notebook(bank: dict[str, Quiz]) -> NotebookNode:
    """Every quiz of the bank: a prompt, an answer cell and a test cell (or a person) per question."""
    total = sum(q.points for quiz in bank.values() for q in quiz.questions)
    cells = [
        locked_markdown(
            "# Quizzes\n\n"
            f"{len(bank)} quizzes on the course module, {total:g} points in all. Each question has an answer cell "
            "whose first line, `%%brokerlab answers.yaml QUIZ QUESTION`, tells the grader which question it "
            "answers: keep that line. Below it, set `answer` to your answer, a plain Python value (text in "
            "quotes, lists in brackets); running the cell checks that the grader can read it, without saying "
            "whether it is right. A question left at `answer = None` scores 0. The test cell after each answer "
            "runs when your instructor grades the notebook; written answers are graded by a person.\n\n"
            "Run the next cell first.", "quiz_intro"),
        locked_code(SETUP_SOURCE, "quiz_setup"),
    ]
    for quiz in bank.values():
        intro = f"## {quiz.title}" + (f"\n\n{quiz.instructions.strip()}" if quiz.instructions else "")
        cells.append(locked_markdown(intro, grade_id(quiz.id, "intro")))
        for q in quiz.questions:
            cells.append(locked_markdown(question_markdown(quiz, q), grade_id(quiz.id, q.id, "prompt")))
            if isinstance(q, FreeResponse):
                cells.append(manual_answer_cell(q.model_answer.strip(), grade_id(quiz.id, q.id, "answer"), q.points))
                continue
            hint = re.sub(r"`|, e\.g\.", "", HOW_TO_ANSWER[q.type].split(" e.g. ")[0]).rstrip(",")
            source = (f"{answer_target(quiz.id, q.id).header}\n"
                      f"answer = None  # {hint}\n{BEGIN}\nanswer = {python_value(key_answer(q))}\n{END}")
            cells.append(answer_cell(source, grade_id(quiz.id, q.id, "answer")))
            visible = (f"# {quiz.id} {q.id} ({_points(q.points)}): graded when your instructor grades this "
                       "notebook; until then this cell checks that it is answered.\n"
                       "from grader.integrations.nbgrader.runtime import check_answered\n"
                       f"check_answered({quiz.id!r}, {q.id!r})")
            hidden = ("from grader.integrations.nbgrader.runtime import grade_answer\n"
                      f"grade_answer({quiz.id!r}, {q.id!r})")
            cells.append(autograder_cell(visible, hidden, grade_id(quiz.id, q.id, "test"), q.points))
    return new_notebook(cells)


def build_notebooks(bank: dict[str, Quiz] | None = None) -> dict[str, NotebookNode]:
    """Every notebook of the assignment, by file name: one per exercise, one for the quizzes."""
    from grader.quiz.loader import load_bank

    notebooks = {notebook_name(exercise): exercise_notebook(exercise) for exercise in EXERCISE_FILES}
    notebooks[QUIZ_NOTEBOOK] = quiz_notebook(load_bank() if bank is None else bank)
    return notebooks


def solved(released: NotebookNode, source: NotebookNode) -> NotebookNode:
    """A released notebook with the source's solutions written in, as a student who finished hands it in.

    For trying a course end to end (the tests, the benchmark): every answer cell gets the source
    cell's text without the solution markers; everything else stays as released.
    """
    solutions = {c.metadata["nbgrader"]["grade_id"]: c.source for c in source.cells
                 if c.metadata.get("nbgrader", {}).get("solution")}
    notebook = copy.deepcopy(released)
    for cell in notebook.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution") and meta.get("grade_id") in solutions:
            lines = solutions[meta["grade_id"]].split("\n")
            cell.source = "\n".join(line for line in lines if line.strip() not in (BEGIN, END))
    return notebook
