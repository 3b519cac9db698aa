"""The mutation operators: each finds places in a module's syntax tree and says what to put there.

A mutation is a source edit (a span of the original text and its replacement), so that the rest
of the file, comments included, stays byte for byte as it was and a survivor's diff is readable.
Operators: deleted statements, flipped comparisons, changed constants, dropped keyword arguments,
swapped statements. Docstrings, ``print`` arguments, exception messages and f-string text are
left alone: changing them alters nothing a contract can ask for.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Iterator

OPERATORS = ("delete", "compare", "constant", "keyword", "swap")

FLIPS: dict[type, tuple[type, ...]] = {
    ast.Lt: (ast.GtE, ast.LtE), ast.LtE: (ast.Gt, ast.Lt), ast.Gt: (ast.LtE, ast.GtE), ast.GtE: (ast.Lt, ast.Gt),
    ast.Eq: (ast.NotEq,), ast.NotEq: (ast.Eq,), ast.Is: (ast.IsNot,), ast.IsNot: (ast.Is,),
    ast.In: (ast.NotIn,), ast.NotIn: (ast.In,),
}


@dataclass(frozen=True)
class Edit:
    """Replace the text from (line, col) to (end_line, end_col) (1-based lines) with ``text``."""

    line: int
    col: int
    end_line: int
    end_col: int
    text: str


@dataclass(frozen=True)
class Mutation:
    operator: str
    node: ast.AST           # where (for the enclosing function and the line)
    edits: tuple[Edit, ...]
    before: str             # the original code, normalised (ast.unparse): part of the stable id
    after: str              # the mutated code, normalised


def _span(node: ast.AST, text: str) -> Edit:
    return Edit(node.lineno, node.col_offset, node.end_lineno, node.end_col_offset, text)  # type: ignore[attr-defined]


def _lines(stmt: ast.stmt, lines: list[str], text: str) -> Edit:
    """Replace whole lines of a statement (decorators and all) with ``text`` at its indentation."""
    first = min([stmt.lineno] + [d.lineno for d in getattr(stmt, "decorator_list", [])])
    last = stmt.end_lineno or stmt.lineno
    return Edit(first, 0, last, len(lines[last - 1]), " " * stmt.col_offset + text)


def _is_docstring(stmt: ast.stmt) -> bool:
    return isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) and isinstance(stmt.value.value, str)


def _is_print(stmt: ast.AST) -> bool:
    return isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call) \
        and isinstance(stmt.value.func, ast.Name) and stmt.value.func.id == "print"


def _quiet_nodes(tree: ast.Module) -> set[int]:
    """Nodes whose constants change no behaviour: docstrings, print arguments, exception
    messages, f-string text, type annotations."""
    quiet: set[int] = set()

    def mark(node: ast.AST | None) -> None:
        if node is not None:
            quiet.update(id(n) for n in ast.walk(node))

    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and _is_docstring(body[0]):
            mark(body[0])
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print":
            mark(node)
        if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
            for arg in node.exc.args:
                mark(arg)
        if isinstance(node, ast.JoinedStr):
            mark(node)
        if isinstance(node, (ast.arg, ast.AnnAssign)):
            mark(node.annotation)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            mark(node.returns)
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            mark(node)
    return quiet


def _blocks(tree: ast.Module) -> Iterator[list[ast.stmt]]:
    """Every statement list the operators may edit: function bodies and every block nested in
    them, and the module's own ``if`` blocks (``if __name__ == "__main__":``), never the module's
    definitions or imports."""
    seen: set[int] = set()
    for top in ast.walk(tree):
        if isinstance(top, (ast.FunctionDef, ast.AsyncFunctionDef)) or (isinstance(top, ast.If) and top in tree.body):
            for node in ast.walk(top):
                for block in _nested(node):
                    if id(block) not in seen:
                        seen.add(id(block))
                        yield block


def _nested(node: ast.AST) -> Iterator[list[ast.stmt]]:
    if not isinstance(node, ast.stmt):
        return
    for field in ("body", "orelse", "finalbody"):
        block = getattr(node, field, None)
        if isinstance(block, list) and block and isinstance(block[0], ast.stmt):
            yield block
    for handler in getattr(node, "handlers", []):
        yield handler.body


def _editable(stmt: ast.stmt) -> bool:
    return not _is_docstring(stmt) and not isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                             ast.ClassDef, ast.Import, ast.ImportFrom))


def mutations(tree: ast.Module, source: str) -> Iterator[Mutation]:
    """Every first-order mutation of ``tree`` (parsed from ``source``), in source order per operator."""
    lines = source.splitlines()
    quiet = _quiet_nodes(tree)
    blocks = list(_blocks(tree))

    for block in blocks:
        code = [s for s in block if _editable(s)]
        for stmt in code:
            if isinstance(stmt, ast.Pass):
                continue
            yield Mutation("delete", stmt, (_lines(stmt, lines, "pass"),), ast.unparse(stmt), "pass")
        for first, second in zip(block, block[1:]):
            if not (_editable(first) and _editable(second)) or ast.dump(first) == ast.dump(second):
                continue
            a, b = _lines(first, lines, ""), _lines(second, lines, "")
            if b.line <= a.end_line:  # two statements on one line
                continue
            text_a = "\n".join(lines[a.line - 1:a.end_line])
            text_b = "\n".join(lines[b.line - 1:b.end_line])
            between = lines[a.end_line:b.line - 1]
            text = "\n".join([text_b] + between + [text_a])
            yield Mutation("swap", first, (Edit(a.line, 0, b.end_line, len(lines[b.end_line - 1]), text),),
                           ast.unparse(first) + "\n" + ast.unparse(second),
                           ast.unparse(second) + "\n" + ast.unparse(first))

    for node in ast.walk(tree):  # expressions anywhere: bodies, defaults, module constants
        if id(node) in quiet:
            continue
        if isinstance(node, ast.Compare):
            for index, op in enumerate(node.ops):
                for flipped in FLIPS.get(type(op), ()):
                    ops = list(node.ops)
                    ops[index] = flipped()
                    new = ast.Compare(left=node.left, ops=ops, comparators=node.comparators)
                    yield Mutation("compare", node, (_span(node, ast.unparse(new)),), ast.unparse(node),
                                   ast.unparse(new))
        elif isinstance(node, ast.Constant) and not isinstance(node.value, bytes) and node.value is not None \
                and node.value is not Ellipsis:
            for value in _changed(node.value):
                yield Mutation("constant", node, (_span(node, repr(value)),), repr(node.value), repr(value))
        elif isinstance(node, ast.Call) and node.keywords and id(node) not in quiet:
            for index, keyword in enumerate(node.keywords):
                if keyword.arg is None:
                    continue
                new = ast.Call(func=node.func, args=node.args,
                               keywords=node.keywords[:index] + node.keywords[index + 1:])
                yield Mutation("keyword", node, (_span(node, ast.unparse(new)),), ast.unparse(node),
                               ast.unparse(new))


def _changed(value: object) -> list[object]:
    if isinstance(value, bool):
        return [not value]
    if isinstance(value, int):
        return [value + 1, value - 1] if value != 0 else [1]
    if isinstance(value, float):
        return [value + 1.0, 0.0] if value != 0 else [1.0]
    if isinstance(value, str):
        return ["XX" + value + "XX"] if value else ["XX"]
    return []


def apply(source: str, edits: tuple[Edit, ...]) -> str:
    """``source`` with ``edits`` (non-overlapping) made."""
    lines = source.splitlines(keepends=True)
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line))

    def at(line: int, col: int) -> int:
        # ast columns are UTF-8 byte offsets
        return offsets[line - 1] + len(lines[line - 1].encode("utf-8")[:col].decode("utf-8", "replace"))

    out = source
    for edit in sorted(edits, key=lambda e: (e.line, e.col), reverse=True):
        start, end = at(edit.line, edit.col), at(edit.end_line, edit.end_col)
        out = out[:start] + edit.text + out[end:]
    return out
