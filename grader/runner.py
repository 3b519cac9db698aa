"""Running the hidden (or public) pytest suites against one submission's code.

pytest runs here, in the trusted process, with only its built-in plugins, our ``GradingPlugin``
and the suites' own ini file: nothing from the submission is ever collected or configured. The
student's code runs in workers that the plugin's fixtures start.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

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
    plugin = GradingPlugin(_staged(submission, exercises), zygote, sandbox, limits, seed)
    try:
        code = _pytest(suite_files(suites, exercises), suites, plugin)
    finally:
        plugin.close()
    return _results(plugin, exercises, code)


def _staged(submission: Submission, exercises: tuple[str, ...]) -> StagedFiles:
    files = {exercise: submission.sources[EXERCISE_FILES[exercise]]
             for exercise in exercises if exercise not in submission.problems}
    return StagedFiles(files, {e: p for e, p in submission.problems.items() if e in exercises})


def _results(plugin: GradingPlugin, exercises: tuple[str, ...], code: int) -> dict[str, ExerciseResult]:
    results: dict[str, ExerciseResult] = {}
    for exercise in exercises:
        tests = plugin.results.get(exercise, [])
        feedback = plugin.not_gradable.get(exercise, "")
        if not tests:  # the suite itself could not run: our fault, said as such
            feedback = f"the grader could not run this exercise's tests (pytest exit {code})"
            tests = [TestResult(name="suite", score=0, max_score=0, status=Status.GRADER_ERROR, feedback=feedback)]
        results[exercise] = ExerciseResult(kind="code", feedback=feedback, tests=tests)
    return results


class PreparedRun:
    """pytest configured and the suites collected once, before any submission is known; each
    ``run`` grades one submission on that collection, exactly as ``run_suites`` would.

    For the class run's parent: configuring pytest and collecting the suites cost each forked child
    ~70 ms. ``run`` consumes the session, so it is called once per process (in a fresh fork).
    """

    def __init__(self, zygote: Zygote, *, suites: Path = SUITES, exercises: tuple[str, ...] = EXERCISES,
                 sandbox: dict | None = None, limits: Limits | None = None, seed: int | None = None) -> None:
        from _pytest.config import _prepareconfig
        from _pytest.main import Session

        os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
        self.exercises, self.preparer, self.used_by = exercises, os.getpid(), 0
        self.plugin = GradingPlugin(None, zygote, sandbox, limits, seed)
        self.config = _prepareconfig(_args(suite_files(suites, exercises), suites), plugins=[self.plugin])
        try:
            self.config._do_configure()
            self.session = Session.from_config(self.config)
            self.session.exitstatus = pytest.ExitCode.OK
            self.config.hook.pytest_sessionstart(session=self.session)
            self.config.hook.pytest_collection(session=self.session)
        except BaseException:
            self.config._ensure_unconfigure()
            raise
        self.collected = list(self.session.items)

    def close(self) -> None:
        """Undo pytest's configuration (in the preparer, when the class run ends)."""
        if os.getpid() == self.preparer:
            self.config._ensure_unconfigure()

    @property
    def usable(self) -> bool:
        """In a fork of the process that prepared it, not used there yet."""
        return os.getpid() not in (self.preparer, self.used_by)

    def run(self, submission: Submission) -> dict[str, ExerciseResult]:
        """Grade ``submission`` (once per process: the session's state is this submission's after)."""
        if not self.usable:
            raise RuntimeError("a prepared run grades once, in a fork of the process that prepared it")
        self.used_by = os.getpid()
        plugin, session = self.plugin, self.session
        plugin.begin(_staged(submission, self.exercises))
        try:
            code = self._loop(session)
            try:
                self.config.hook.pytest_sessionfinish(session=session, exitstatus=code)
            except Exception:  # noqa: BLE001 - as in pytest's own session: the results stand
                code = pytest.ExitCode.INTERNAL_ERROR
        finally:
            plugin.close()
        return _results(plugin, self.exercises, int(code))

    def _loop(self, session: Any) -> pytest.ExitCode:
        """The test loop and its exit status as ``pytest.main`` has them (``wrap_session``,
        ``_main``): whatever escapes it, the results recorded so far stand."""
        try:
            session.items = list(self.collected)
            self.plugin.pytest_collection_modifyitems(session.items)
            session.testscollected = len(session.items)
            self.config.hook.pytest_runtestloop(session=session)
        except session.Failed:
            return pytest.ExitCode.TESTS_FAILED
        except (KeyboardInterrupt, session.Interrupted, pytest.exit.Exception):
            return pytest.ExitCode.INTERRUPTED
        except BaseException:  # noqa: BLE001 - pytest's INTERNALERROR: one exercise's trouble stops no other
            return pytest.ExitCode.INTERNAL_ERROR
        if session.testsfailed:
            return pytest.ExitCode.TESTS_FAILED
        if session.testscollected == 0:
            return pytest.ExitCode.NO_TESTS_COLLECTED
        return pytest.ExitCode.OK


def _args(files: list[Path], suites: Path) -> list[str]:
    return [str(f) for f in files] + [
        "-c", str(SUITES / "pytest.ini"), "--rootdir", str(suites), "--import-mode=importlib", "--noconftest",
        "--continue-on-collection-errors",
        "-p", "no:cacheprovider", "-p", "no:terminal", "-p", "no:warnings", "-p", "no:logging",
        "-p", "no:faulthandler", "-p", "no:unraisableexception", "-p", "no:threadexception",
        "-p", "no:doctest", "-p", "no:junitxml", "-p", "no:pastebin", "-p", "no:nose", "--assert=plain", "-s",
    ]


def _pytest(files: list[Path], suites: Path, plugin: GradingPlugin) -> int:
    os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    return int(pytest.main(_args(files, suites), plugins=[plugin]))
