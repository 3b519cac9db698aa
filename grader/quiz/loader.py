"""Reading quiz and answer files: YAML with line numbers, then the schema, then the checks it cannot express.

Every problem is reported as ``file:line: question: message`` so an author can jump straight to it.
The validated bank is cached per process: bulk grading loads it once for hundreds of submissions.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from grader.errors import UserError
from grader.paths import QUIZZES
from grader.quiz.schema import (
    FreeResponse, Matching, MultipleSelect, Ordering, PublicQuiz, Quiz, ShortAnswer, SingleChoice,
)

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_BOOL_TAG = "tag:yaml.org,2002:bool"
_MERGE_TAG = "tag:yaml.org,2002:merge"
MAX_BYTES = 512 * 1024  # far above any honest answers file; keeps a hostile one from stalling the grader
MAX_NODES = 50_000       # alias expansion ("billion laughs") is counted too
MAX_DEPTH = 64           # no honest quiz or answers file nests past a handful of levels

Path_ = tuple[Any, ...]


@dataclass
class YamlDoc:
    """Parsed YAML plus where each key and list item sits, and what looked wrong while reading."""

    data: Any
    lines: dict[Path_, int] = field(default_factory=dict)
    problems: list[tuple[Path_, int, str]] = field(default_factory=list)

    def line_of(self, path: Path_) -> int:
        """The line of the deepest known prefix of ``path``."""
        for end in range(len(path), 0, -1):
            if path[:end] in self.lines:
                return self.lines[path[:end]]
        return 1


class YamlError(UserError):
    """The text is not YAML we can read (syntax, size, nesting)."""

    def __init__(self, message: str, line: int | None = None):
        super().__init__(message)
        self.line = line


def read_yaml(text: str, *, yes_no_strings: bool = False, aliases: bool = True) -> YamlDoc:
    """Parse one YAML document, recording lines, duplicate keys and YAML 1.1 yes/no booleans.

    With ``yes_no_strings`` (answers files), an unquoted yes/no/on/off stays the string the student
    typed; otherwise (quiz files) it is reported, since YAML would silently read it as true/false.
    Without ``aliases`` (a student's answers, which never need them) an alias (``*name``) is
    refused, so a small file cannot stand for a huge one. Size, depth and values are capped
    always; a value that a tag makes invalid (``!!timestamp 2020-99-99``) is a YamlError too.
    """
    if len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        raise YamlError(f"the file is larger than {MAX_BYTES // 1024} KB")
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise YamlError(f"not valid YAML: {exc.problem or exc.context}", line) from None
    except yaml.YAMLError as exc:
        raise YamlError(f"not valid YAML: {exc}") from None
    finally:
        loader.dispose()
    doc = YamlDoc(data=None)
    if node is None:
        return doc
    counter = [0]
    seen: set[int] | None = None if aliases else set()
    try:
        doc.data = _build(node, (), doc, loader, yes_no_strings, counter, seen)
    except RecursionError:
        raise YamlError("the YAML is nested too deeply") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise YamlError(f"not valid YAML: {exc.problem or exc.context}", mark.line + 1 if mark else None) from None
    except (yaml.YAMLError, ValueError, TypeError, OverflowError) as exc:
        raise YamlError(f"not valid YAML: {exc}") from None
    return doc


def _build(node: yaml.Node, path: Path_, doc: YamlDoc, loader: Any, yes_no_strings: bool,
           counter: list[int], seen: set[int] | None = None) -> Any:
    counter[0] += 1
    if counter[0] > MAX_NODES:
        raise YamlError(f"the YAML holds more than {MAX_NODES} values")
    if len(path) > MAX_DEPTH:
        raise YamlError(f"the YAML is nested more than {MAX_DEPTH} levels deep", node.start_mark.line + 1)
    if seen is not None:
        if id(node) in seen:  # the composer hands back the anchored node itself for an alias
            raise YamlError("anchors and aliases (&name, *name) are not allowed here; write each value out",
                            node.start_mark.line + 1)
        seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            if key_node.tag == _MERGE_TAG:
                doc.problems.append((path, line, "merge keys (<<) are not supported; write the keys out"))
                continue
            key = _build(key_node, path, doc, loader, yes_no_strings, counter, seen)
            try:
                hash(key)
            except TypeError:
                doc.problems.append((path, line, "a key must be a plain value, not a list or mapping"))
                continue
            if key in result:
                first = doc.lines.get(path + (key,), line)
                doc.problems.append((path + (key,), line, f"duplicate key {key!r} (first at line {first})"))
                continue
            doc.lines[path + (key,)] = line
            result[key] = _build(value_node, path + (key,), doc, loader, yes_no_strings, counter, seen)
        return result
    if isinstance(node, yaml.SequenceNode):
        items = []
        for i, item in enumerate(node.value):
            doc.lines[path + (i,)] = item.start_mark.line + 1
            items.append(_build(item, path + (i,), doc, loader, yes_no_strings, counter, seen))
        return items
    if node.tag == _BOOL_TAG and not node.style and node.value.lower() not in ("true", "false"):
        if yes_no_strings:
            return node.value
        doc.problems.append((path, node.start_mark.line + 1,
                             f"unquoted {node.value!r} is read by YAML as a boolean; "
                             f"quote it ('{node.value}') or write true/false"))
        return node.value
    return loader.construct_object(node, deep=True)


class _BlockDumper(yaml.SafeDumper):
    """Mappings as blocks, lists of scalars inline ([A, D]), text with line breaks as literal blocks."""


def _represent_list(dumper: yaml.SafeDumper, data: list[Any]) -> yaml.Node:
    flow = all(not isinstance(x, (dict, list)) for x in data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)


_BlockDumper.add_representer(list, _represent_list)
_BlockDumper.add_representer(
    str, lambda d, data: d.represent_scalar("tag:yaml.org,2002:str", data, style="|" if "\n" in data else None))


def dump_yaml(data: Any) -> str:
    """YAML that reads back as ``data`` and reads well: answers files and the bundle's quizzes."""
    return yaml.dump(data, Dumper=_BlockDumper, sort_keys=False, allow_unicode=True, default_flow_style=False,
                     width=100)


# ---------------------------------------------------------------- quiz files

@dataclass(frozen=True)
class Problem:
    file: str
    line: int
    where: str  # "question q3", "quiz"
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.where}: {self.message}"


class QuizFileError(UserError):
    """A quiz file that breaks the format; one line per problem."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _where(data: Any, path: Path_) -> str:
    if len(path) >= 2 and path[0] == "questions" and isinstance(path[1], int):
        questions = data.get("questions") if isinstance(data, dict) else None
        if isinstance(questions, list) and path[1] < len(questions):
            q = questions[path[1]]
            if isinstance(q, dict) and isinstance(q.get("id"), str):
                return f"question {q['id']}"
        return f"question #{path[1] + 1}"
    return "quiz"


def _data_path(data: Any, loc: tuple[Any, ...]) -> Path_:
    """Follow a pydantic error location through the data, skipping parts it does not hold.

    Those are union tags (``single``) and missing fields; the message names the field anyway.
    """
    path: list[Any] = []
    node = data
    for part in loc:
        if (isinstance(node, dict) and part in node) or (
                isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)):
            path.append(part)
            node = node[part]
    return tuple(path)


def _field_name(loc: tuple[Any, ...], types: set[str]) -> str:
    parts = [str(p) for p in loc if not (isinstance(p, str) and (p in types or "[" in p))]
    if len(parts) >= 2 and parts[0] == "questions":
        parts = parts[2:]
    return ".".join(parts)


_TYPES = {"single", "multiple", "true_false", "short_answer", "numeric", "ordering", "matching", "free_response"}


def _schema_problems(doc: YamlDoc, exc: ValidationError, name: str) -> list[Problem]:
    problems = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        path = _data_path(doc.data, loc)
        field_name = _field_name(loc, _TYPES)
        message = err["msg"]
        if err["type"] == "union_tag_invalid":
            message = f"unknown question type {err['input'].get('type')!r}; use one of {', '.join(sorted(_TYPES))}" \
                if isinstance(err.get("input"), dict) else message
        elif err["type"] == "extra_forbidden":
            message = "unknown key (a typo?)"
        elif err["type"] == "missing":
            message = "missing"
        text = f"{field_name}: {message}" if field_name else message
        problems.append(Problem(name, doc.line_of(path), _where(doc.data, path), text))
    return problems


def _letters_in_order(keys: list[str]) -> bool:
    return keys == [chr(ord("A") + i) for i in range(len(keys))]


def semantic_problems(quiz: Quiz, doc: YamlDoc, name: str, stem: str | None = None) -> list[Problem]:
    """The checks a schema cannot express."""
    from grader.quiz.scoring import AnswerError, parse_answer, short_answer_accepts

    problems: list[Problem] = []

    def add(path: Path_, where: str, message: str) -> None:
        problems.append(Problem(name, doc.line_of(path), where, message))

    if stem is not None and quiz.id != stem:
        add(("id",), "quiz", f"the quiz id {quiz.id!r} must be the file's name ({stem!r})")
    seen: dict[str, int] = {}
    for i, q in enumerate(quiz.questions):
        base: Path_ = ("questions", i)
        where = f"question {q.id}"
        if q.id in seen:
            add(base + ("id",), where, f"duplicate question id {q.id!r} (first at line {seen[q.id]})")
        else:
            seen[q.id] = doc.line_of(base + ("id",))
        if isinstance(q, (SingleChoice, MultipleSelect)):
            if not _letters_in_order(list(q.choices)):
                add(base + ("choices",), where, f"choices must be lettered A, B, C, ... in order, not "
                    f"{', '.join(q.choices)}")
            right = [k for k, c in q.choices.items() if c.correct]
            if isinstance(q, SingleChoice) and len(right) != 1:
                add(base + ("choices",), where, "a single choice needs exactly one right answer (correct: true), "
                    f"found {len(right)}" + (f": {', '.join(right)}" if right else ""))
            if isinstance(q, MultipleSelect):
                if not right:
                    add(base + ("choices",), where, "a multiple select needs at least one right choice")
                if len(right) == len(q.choices):
                    add(base + ("choices",), where, "a multiple select needs at least one wrong choice")
        if isinstance(q, ShortAnswer):
            if q.match == "regex":
                for j, pattern in enumerate(q.answers):
                    try:
                        re.compile(pattern)
                    except re.error as exc:
                        add(base + ("answers", j), where, f"the regex {pattern!r} does not compile: {exc}")
                if not q.display:
                    add(base + ("answers",), where, "a regex short answer needs display: plain answers for "
                        "exports and keys")
            if q.display and not any(p.where == where and "regex" in p.message for p in problems):
                for j, shown in enumerate(q.display):
                    if not short_answer_accepts(q, shown):
                        add(base + ("display", j), where, f"the display answer {shown!r} is not accepted by answers")
        if isinstance(q, Ordering):
            if not _letters_in_order(list(q.items)):
                add(base + ("items",), where, "items must be lettered A, B, C, ... in order")
            for j, letter in enumerate(q.answer):
                if letter not in q.items:
                    add(base + ("answer", j), where, f"the answer {letter!r} is not an item")
            if sorted(q.answer) != sorted(q.items):
                add(base + ("answer",), where, "the answer must list every item exactly once")
        if isinstance(q, Matching):
            if not _letters_in_order(list(q.options)):
                add(base + ("options",), where, "options must be lettered A, B, C, ... in order")
            for j, pair in enumerate(q.pairs):
                if pair.answer not in q.options:
                    add(base + ("pairs", j, "answer"), where, f"the answer {pair.answer!r} is not an option")
        if isinstance(q, FreeResponse):
            total = sum(r.points for r in q.rubric)
            if abs(total - q.points) > 1e-9:
                add(base + ("rubric",), where, f"the rubric's points add up to {total:g}, the question's to {q.points:g}")
        for j, example in enumerate(getattr(q, "examples", [])):
            epath = base + ("examples", j)
            if example.score > q.points + 1e-9:
                add(epath + ("score",), where, f"an example scores {example.score:g}, more than the question's "
                    f"{q.points:g} points")
            if any(p.where == where for p in problems):
                continue  # a broken key makes example errors noise
            try:
                if parse_answer(q, example.response) is None:
                    add(epath + ("response",), where, "an example response is empty")
            except AnswerError as exc:
                add(epath + ("response",), where, f"an example response is not an answer: {exc}")
    return problems


def load_quiz_file(path: Path) -> Quiz:
    """One quiz file, validated; raises QuizFileError listing every problem with its line."""
    name = _display(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise QuizFileError([Problem(name, 1, "quiz", f"cannot read the file: {exc}")]) from None
    try:
        doc = read_yaml(text)
    except YamlError as exc:
        raise QuizFileError([Problem(name, exc.line or 1, "quiz", str(exc))]) from None
    problems = [Problem(name, line, _where(doc.data, p), msg) for p, line, msg in doc.problems]
    if problems:
        raise QuizFileError(problems)
    if not isinstance(doc.data, dict):
        raise QuizFileError([Problem(name, 1, "quiz", "a quiz file is a mapping with id, title and questions")])
    try:
        quiz = Quiz.model_validate(doc.data)
    except ValidationError as exc:
        raise QuizFileError(_schema_problems(doc, exc, name)) from None
    problems = semantic_problems(quiz, doc, name, path.stem)
    if problems:
        raise QuizFileError(problems)
    return quiz


def quiz_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.glob("*.yaml") if p.is_file())


@functools.cache
def load_bank(directory: Path = QUIZZES) -> dict[str, Quiz]:
    """Every quiz of ``directory`` by id, validated once per process."""
    problems: list[Problem] = []
    bank: dict[str, Quiz] = {}
    for path in quiz_files(directory):
        try:
            quiz = load_quiz_file(path)
        except QuizFileError as exc:
            problems.extend(exc.problems)
            continue
        bank[quiz.id] = quiz
    if problems:
        raise QuizFileError(problems)
    return bank


def load_any_quiz(path: Path) -> Quiz | PublicQuiz:
    """A full quiz file, or a public one from the student bundle (for taking the quiz)."""
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise UserError(f"{_display(path)}: cannot read the quiz: {exc}") from None
    if isinstance(data, dict) and data.get("public") is True:
        try:
            return PublicQuiz.model_validate(data)
        except ValidationError as exc:
            raise UserError(f"{_display(path)}: not a quiz file: {exc.errors()[0]['msg']}") from None
    return load_quiz_file(path)
