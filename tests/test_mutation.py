"""Mutation testing of the hidden suites: every non-equivalent mutant of the reference solutions
is killed, and the reviewed equivalents are all still real, still surviving, and explained."""
from __future__ import annotations

import json
import subprocess
import sys

from grader.mutate.command import DEFAULT_EXERCISES
from grader.mutate.generate import generate
from grader.mutate.operators import OPERATORS
from grader.mutate.report import load_equivalents
from grader.paths import EXERCISE_FILES, ROOT


def test_mutants_are_many_distinct_compiling_and_stably_named():
    for exercise in DEFAULT_EXERCISES:
        mutants = generate(exercise)
        assert len(mutants) >= 50
        assert {m.operator for m in mutants} == set(OPERATORS)
        assert len({m.id for m in mutants}) == len(mutants) == len({m.source for m in mutants})
        assert [m.id for m in generate(exercise)] == [m.id for m in mutants]
        for m in mutants:
            compile(m.source, EXERCISE_FILES[exercise], "exec")


def test_an_unrelated_edit_keeps_every_id():
    from grader.paths import SOLUTIONS

    source = (SOLUTIONS / "sqs_consumer.py").read_text()
    moved = "# a comment that moves every line\n\n" + source
    assert [m.id for m in generate("consumer", moved)] == [m.id for m in generate("consumer", source)]


def test_every_reviewed_equivalent_is_a_mutant_with_a_reason():
    ids = {m.id for exercise in DEFAULT_EXERCISES for m in generate(exercise)}
    equivalents = load_equivalents()
    assert equivalents, "the reviewed equivalents file is empty"
    assert set(equivalents) <= ids, f"stale ids: {sorted(set(equivalents) - ids)}"
    assert all(len(why.split()) >= 4 for why in equivalents.values())


def test_the_suites_kill_every_non_equivalent_mutant(tmp_path):
    report = tmp_path / "mutate.json"
    done = subprocess.run([sys.executable, "-m", "grader", "mutate", "--fail-under", "100", "--json", str(report)],
                          capture_output=True, text=True, cwd=ROOT, timeout=900)
    data = json.loads(report.read_text())
    for exercise, summary in data["exercises"].items():
        assert summary["score"] == 100.0, f"{exercise}: survivors {[s['id'] for s in summary['survivors']]}"
        assert not summary["killed_equivalents"] and not summary["errors"], (exercise, summary)
    assert not data["stale_equivalents"]
    assert done.returncode == 0, done.stdout[-3000:]
