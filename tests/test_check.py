"""brokerlab check: the public tests, on the stubs by default, in the hidden suites' style."""
from __future__ import annotations

import subprocess
import sys

from grader.amqp import service
from grader.paths import ROOT, SOLUTIONS

PUBLIC_POINTS = 9 + (8 if service.available() else 0)  # the AMQP public tests need a RabbitMQ


def check(*args: str, cwd=ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "grader", "check", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=60)


def test_check_passes_the_reference():
    done = check("--path", str(SOLUTIONS))
    assert done.returncode == 0, done.stderr
    assert "[FAIL]" not in done.stdout and f"Total: {PUBLIC_POINTS}/{PUBLIC_POINTS}" in done.stdout


def test_check_defaults_to_the_stubs_and_teaches():
    done = check()
    assert done.returncode == 0, done.stderr
    assert f"Total: 0/{PUBLIC_POINTS}" in done.stdout
    assert "NotImplementedError" in done.stdout
    assert "hidden tests check more" in done.stdout


def test_check_one_exercise(tmp_path):
    done = check("consumer", "--path", str(SOLUTIONS))
    assert "consumer: 3/3" in done.stdout and "producer" not in done.stdout


def test_check_refuses_a_missing_folder(tmp_path):
    done = check("--path", str(tmp_path / "nope"))
    assert done.returncode == 2 and "no such folder" in done.stderr and "Traceback" not in done.stderr
