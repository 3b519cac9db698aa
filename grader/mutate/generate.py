"""Mutants of the reference solutions, each with an id that survives unrelated edits of the file.

The id hashes the exercise, the operator, the enclosing function, the code before and after (as
``ast.unparse`` writes them) and which of identical such changes in that function it is, never a
line number: moving a function or adding a comment above it keeps every reviewed id valid.
"""
from __future__ import annotations

import ast
import difflib
import hashlib
from dataclasses import dataclass
from pathlib import Path

from grader.mutate.operators import Mutation, apply, mutations
from grader.paths import EXERCISE_FILES, SOLUTIONS


@dataclass(frozen=True)
class Mutant:
    id: str
    exercise: str
    operator: str
    function: str           # the enclosing function ("<module>" for the script block)
    line: int
    before: str
    after: str
    source: str             # the whole mutated file

    def diff(self, original: str) -> str:
        name = EXERCISE_FILES[self.exercise]
        return "".join(difflib.unified_diff(original.splitlines(keepends=True), self.source.splitlines(keepends=True),
                                            f"a/{name}", f"b/{name}", n=1))


def _functions(tree: ast.Module) -> list[tuple[int, int, str]]:
    """Line spans of every function and class, and of each module-level assignment (named by its target)."""
    spans = []
    for stmt in tree.body:
        if isinstance(stmt, (ast.Assign, ast.AnnAssign)):
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            names = [t.id for t in targets if isinstance(t, ast.Name)]
            if names:
                spans.append((stmt.lineno, stmt.end_lineno or stmt.lineno, names[0]))

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = f"{prefix}{child.name}"
                spans.append((child.lineno, child.end_lineno or child.lineno, name))
                visit(child, name + ".")
            else:
                visit(child, prefix)

    visit(tree, "")
    return spans


def _enclosing(spans: list[tuple[int, int, str]], line: int) -> str:
    inside = [s for s in spans if s[0] <= line <= s[1]]
    return max(inside, key=lambda s: s[0])[2] if inside else "<module>"


def generate(exercise: str, source: str | None = None) -> list[Mutant]:
    """Every first-order mutant of ``exercise``'s reference solution that still compiles."""
    if source is None:
        source = (SOLUTIONS / EXERCISE_FILES[exercise]).read_text(encoding="utf-8")
    tree = ast.parse(source)
    spans = _functions(tree)
    seen: dict[tuple[str, str, str, str], int] = {}
    texts: set[str] = {source}
    found: list[Mutant] = []
    for mutation in mutations(tree, source):
        mutant = _make(exercise, source, mutation, spans, seen)
        if mutant is None or mutant.source in texts:
            continue
        texts.add(mutant.source)
        found.append(mutant)
    return found


def _make(exercise: str, source: str, mutation: Mutation, spans: list[tuple[int, int, str]],
          seen: dict[tuple[str, str, str, str], int]) -> Mutant | None:
    line = mutation.node.lineno  # type: ignore[attr-defined]
    function = _enclosing(spans, line)
    key = (mutation.operator, function, mutation.before, mutation.after)
    ordinal = seen.get(key, 0)
    seen[key] = ordinal + 1
    text = apply(source, mutation.edits)
    try:
        compile(text, EXERCISE_FILES[exercise], "exec")
    except SyntaxError:  # e.g. a deleted `global`: not a program, not a mutant
        return None
    digest = hashlib.sha256("\0".join([exercise, *key, str(ordinal)]).encode()).hexdigest()[:10]
    short = function.rsplit(".", 1)[-1].strip("_<>") or "module"
    return Mutant(f"{exercise}.{short}.{mutation.operator}.{digest}", exercise, mutation.operator, function, line,
                  mutation.before, mutation.after, text)


def write(mutant: Mutant, folder: Path) -> Path:
    """A submission folder holding just this mutant's file."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / EXERCISE_FILES[mutant.exercise]).write_text(mutant.source, encoding="utf-8")
    return folder
