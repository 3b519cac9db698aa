"""Where the project's bundled material lives.

From a source tree (an editable install: the README's commands, Gradescope) the course material
is read beside the ``grader`` package; a plain install carries it under ``<prefix>/share/brokerlab``.
"""
from __future__ import annotations

import sys
from pathlib import Path

SOURCE_TREE = Path(__file__).resolve().parent.parent
INSTALLED_DATA = Path(sys.prefix) / "share" / "brokerlab"
ROOT = SOURCE_TREE if (SOURCE_TREE / "exercises").is_dir() else INSTALLED_DATA
EXERCISES = ROOT / "exercises"
SOLUTIONS = ROOT / "solutions"
QUIZZES = ROOT / "quizzes"
EXAMPLES = ROOT / "examples"
SUITES = Path(__file__).resolve().parent / "suites"

# The exercise key of each file a submission may hold (the contracts' tables).
EXERCISE_FILES: dict[str, str] = {
    "producer": "sqs_producer.py",
    "consumer": "sqs_consumer.py",
    "payment": "payment_handler.py",
    "amqp_producer": "amqp_producer.py",   # the AMQP track (contract-amqp.md)
    "amqp_consumer": "amqp_consumer.py",
    "amqp_routing": "amqp_routing.py",
}
ANSWERS_FILE = "answers.yaml"
