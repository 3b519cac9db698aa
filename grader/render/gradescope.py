"""Gradescope's results.json (https://gradescope-autograders.readthedocs.io/en/latest/specs/)."""
from __future__ import annotations

from typing import Any

from grader.results import Status, SubmissionResult

GS_STATUS = {Status.PASSED: "passed"}


def to_gradescope(result: SubmissionResult, hidden_visibility: str = "visible") -> dict[str, Any]:
    tests = []
    for key, exercise in result.exercises.items():
        for test in exercise.tests:
            output = test.feedback or ("passed" if test.passed else "")
            if test.traceback:
                output += "\n\n" + test.traceback
            tests.append({
                "name": f"{key}: {test.name}",
                "score": test.score,
                "max_score": test.max_score,
                "status": GS_STATUS.get(test.status, "failed"),
                "output": output,
                "visibility": hidden_visibility if exercise.kind == "code" else "visible",
            })
    return {"score": result.score, "tests": tests, "visibility": "visible",
            "stdout_visibility": "hidden"}
