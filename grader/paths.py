"""Where the project's bundled material lives.

The package is installed editable (the README's commands, the Gradescope and nbgrader set-ups), so
the course material is read from the source tree beside the ``grader`` package.
"""
from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXERCISES = ROOT / "exercises"
SOLUTIONS = ROOT / "solutions"
QUIZZES = ROOT / "quizzes"
EXAMPLES = ROOT / "examples"
SUITES = Path(__file__).resolve().parent / "suites"

# The exercise key of each file a submission may hold (the contract's table).
EXERCISE_FILES: dict[str, str] = {
    "producer": "sqs_producer.py",
    "consumer": "sqs_consumer.py",
    "payment": "payment_handler.py",
}
ANSWERS_FILE = "answers.yaml"
