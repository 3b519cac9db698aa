"""What a mutation run found: per exercise, the score, and each survivor with the tests that
should have caught it; the reviewed equivalents are left out of the score."""
from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from grader.mutate.generate import Mutant
from grader.mutate.runner import ERROR, KILLED, SURVIVED, Verdict
from grader.paths import EXERCISE_FILES, SOLUTIONS, SUITES

EQUIVALENTS = Path(__file__).with_name("equivalent.yaml")


def load_equivalents(path: Path = EQUIVALENTS) -> dict[str, str]:
    """Reviewed equivalent mutants: id -> why no contract-faithful test can tell them apart."""
    if not path.is_file():
        return {}
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return {str(k): str(v) for k, v in data.items()}


# -- which tests should have failed -----------------------------------------------------------------

def _references(tree: ast.Module) -> dict[str, set[str]]:
    """Top-level name -> the top-level names (and string constants) its definition mentions."""
    refs: dict[str, set[str]] = {}
    for stmt in tree.body:
        names: list[str] = []
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names = [stmt.name]
        elif isinstance(stmt, (ast.Assign, ast.AnnAssign)):
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            names = [t.id for t in targets if isinstance(t, ast.Name)]
        elif isinstance(stmt, ast.If):
            names = ["<module>"]
        mentioned = {n.id for n in ast.walk(stmt) if isinstance(n, ast.Name)}
        mentioned |= {n.value for n in ast.walk(stmt) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
        mentioned |= {a.arg for n in ast.walk(stmt) if isinstance(n, ast.FunctionDef) for a in n.args.args}
        for name in names:
            refs.setdefault(name, set()).update(mentioned - {name})
    return refs


def _users(refs: dict[str, set[str]], name: str) -> set[str]:
    """``name`` and every top-level name that reaches it."""
    found, frontier = {name}, [name]
    while frontier:
        current = frontier.pop()
        for user, mentioned in refs.items():
            if current in mentioned and user not in found:
                found.add(user)
                frontier.append(user)
    return found


class Targets:
    """For a mutated function of a solution, the hidden tests that exercise it."""

    FIXTURE_CALLS = {"shop": {"process_payment"}}

    def __init__(self, exercise: str) -> None:
        solution = ast.parse((SOLUTIONS / EXERCISE_FILES[exercise]).read_text(encoding="utf-8"))
        self.solution = _references(solution)
        self.public = {s.name for s in solution.body if isinstance(s, ast.FunctionDef) and not s.name.startswith("_")}
        suite_path = SUITES / f"test_{exercise}.py"
        suite = ast.parse(suite_path.read_text(encoding="utf-8")) if suite_path.is_file() else ast.Module([], [])
        self.suite = _references(suite)
        self.tests = [s.name for s in suite.body if isinstance(s, ast.FunctionDef) and s.name.startswith("test_")]
        for stmt in suite.body:
            if isinstance(stmt, ast.FunctionDef):
                for arg in stmt.args.args:
                    self.suite[stmt.name] |= self.FIXTURE_CALLS.get(arg.arg, set())

    def for_function(self, function: str) -> list[str]:
        top = function.split(".", 1)[0]
        entry = {"__main__"} if top == "<module>" else (_users(self.solution, top) & (self.public | {"<module>"}))
        if "<module>" in entry:
            entry = (entry - {"<module>"}) | {"__main__"}
        return [t for t in self.tests if _closure(self.suite, t) & entry]


def _closure(refs: dict[str, set[str]], name: str) -> set[str]:
    found, frontier = set(), [name]
    while frontier:
        for mentioned in refs.get(frontier.pop(), set()):
            if mentioned not in found:
                found.add(mentioned)
                if mentioned in refs:
                    frontier.append(mentioned)
    return found


# -- the summary --------------------------------------------------------------------------------------

@dataclass
class ExerciseSummary:
    exercise: str
    generated: int = 0
    killed: int = 0
    survived: list[Verdict] = field(default_factory=list)
    equivalent: list[Verdict] = field(default_factory=list)
    errors: list[Verdict] = field(default_factory=list)
    killed_equivalents: list[Verdict] = field(default_factory=list)  # reviewed as equivalent, yet killed

    @property
    def scored(self) -> int:
        return self.generated - len(self.equivalent)

    @property
    def score(self) -> float:
        return 100.0 if self.scored == 0 else round(100.0 * self.killed / self.scored, 1)


def summarise(verdicts: list[Verdict], equivalents: dict[str, str], exercises: list[str]) -> list[ExerciseSummary]:
    summaries = {e: ExerciseSummary(e) for e in exercises}
    for v in verdicts:
        s = summaries[v.mutant.exercise]
        s.generated += 1
        if v.mutant.id in equivalents:
            (s.killed_equivalents if v.status == KILLED else s.equivalent).append(v)
            if v.status == KILLED:
                s.killed += 1
        elif v.status == KILLED:
            s.killed += 1
        elif v.status == SURVIVED:
            s.survived.append(v)
        else:
            s.errors.append(v)
    return [summaries[e] for e in exercises]


def to_json(summaries: list[ExerciseSummary], equivalents: dict[str, str], seed: int, seconds: float,
            stale: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {"seed": seed, "seconds": round(seconds, 1), "exercises": {}, "stale_equivalents": stale}
    for s in summaries:
        original = (SOLUTIONS / EXERCISE_FILES[s.exercise]).read_text(encoding="utf-8")
        targets = Targets(s.exercise)
        out["exercises"][s.exercise] = {
            "generated": s.generated, "killed": s.killed, "surviving": len(s.survived),
            "equivalent": len(s.equivalent), "errors": len(s.errors), "score": s.score,
            "survivors": [{"id": v.mutant.id, "operator": v.mutant.operator, "function": v.mutant.function,
                           "line": v.mutant.line, "diff": v.mutant.diff(original),
                           "should_fail": targets.for_function(v.mutant.function)} for v in s.survived],
            "errors_detail": [{"id": v.mutant.id, "note": v.note} for v in s.errors],
            "killed_equivalents": [v.mutant.id for v in s.killed_equivalents],
        }
    return out


def render_text(report: dict[str, Any]) -> str:
    lines = [f"Mutation testing of the reference solutions (seed {report['seed']}, {report['seconds']:.0f} s)", ""]
    lines.append(f"{'exercise':<10} {'generated':>9} {'killed':>7} {'surviving':>9} {'equivalent':>10} "
                 f"{'errors':>6} {'score':>7}")
    for name, e in report["exercises"].items():
        lines.append(f"{name:<10} {e['generated']:>9} {e['killed']:>7} {e['surviving']:>9} {e['equivalent']:>10} "
                     f"{e['errors']:>6} {e['score']:>6.1f}%")
    for name, e in report["exercises"].items():
        for s in e["survivors"]:
            lines += ["", f"SURVIVED {s['id']} ({s['operator']} in {s['function']}, line {s['line']})",
                      "  should have failed: " + (", ".join(s["should_fail"]) or "(no test calls this code)"),
                      s["diff"].rstrip()]
        for x in e["errors_detail"]:
            lines += ["", f"GRADER ERROR {x['id']}: {x['note']}"]
        for mid in e["killed_equivalents"]:
            lines += ["", f"KILLED BUT REVIEWED AS EQUIVALENT {mid}: remove it from equivalent.yaml"]
    for mid in report["stale_equivalents"]:
        lines += ["", f"STALE equivalent.yaml entry {mid}: no such mutant any more"]
    return "\n".join(lines) + "\n"
