"""Running the hidden (or public) pytest suites against one submission's code.

pytest runs here, in the trusted process, with only its built-in plugins, our ``GradingPlugin``
and the suites' own ini file: nothing from the submission is ever collected or configured. The
student's code runs in workers that the plugin's fixtures start.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from grader.harness.plugin import GradingPlugin, Submission as StagedFiles
from grader.paths import EXERCISE_FILES, SUITES
from grader.results import ExerciseResult, Status, TestResult
from grader.sandbox.client import Limits, Zygote
from grader.submission import Submission

EXERCISES = tuple(EXERCISE_FILES)


def suite_files(suites: Path, exercises: tuple[str, ...]) -> list[Path]:
    return [suites / f"test_{exercise}.py" for exercise in exercises if (suites / f"test_{exercise}.py").exists()]


def run_suites(submission: Submission, zygote: Zygote, *, suites: Path = SUITES,
               exercises: tuple[str, ...] = EXERCISES, sandbox: dict | None = None,
               limits: Limits | None = None, seed: int | None = None) -> dict[str, ExerciseResult]:
    """Grade each exercise's file with its suite; one exercise's trouble never stops another.
    With a ``seed`` the suites run on the seeded course; without, on moto's defaults (public checks)."""
    files = {exercise: submission.sources[EXERCISE_FILES[exercise]]
             for exercise in exercises if exercise not in submission.problems}
    plugin = GradingPlugin(StagedFiles(files, {e: p for e, p in submission.problems.items() if e in exercises}),
                           zygote, sandbox, limits, seed)
    try:
        code = _pytest(suite_files(suites, exercises), suites, plugin)
    finally:
        plugin.close()
    results: dict[str, ExerciseResult] = {}
    for exercise in exercises:
        tests = plugin.results.get(exercise, [])
        feedback = plugin.not_gradable.get(exercise, "")
        if not tests:  # the suite itself could not run: our fault, said as such
            feedback = f"the grader could not run this exercise's tests (pytest exit {code})"
            tests = [TestResult(name="suite", score=0, max_score=0, status=Status.GRADER_ERROR, feedback=feedback)]
        results[exercise] = ExerciseResult(kind="code", feedback=feedback, tests=tests)
    return results


def _pytest(files: list[Path], suites: Path, plugin: GradingPlugin) -> int:
    os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    args = [str(f) for f in files] + [
        "-c", str(SUITES / "pytest.ini"), "--rootdir", str(suites), "--import-mode=importlib", "--noconftest",
        "--continue-on-collection-errors",
        "-p", "no:cacheprovider", "-p", "no:terminal", "-p", "no:warnings", "-p", "no:logging",
        "-p", "no:faulthandler", "-p", "no:unraisableexception", "-p", "no:threadexception",
        "-p", "no:doctest", "-p", "no:junitxml", "-p", "no:pastebin", "-p", "no:nose", "--assert=plain", "-s",
    ]
    return int(pytest.main(args, plugins=[plugin]))
