"""The corpus: submissions written to the contract alone. Correct ones of other shapes must earn
full marks; each of the course's mistakes must lose the points of the test that names it and
keep every test it does not break (tests/corpus/<name>/expect.yaml says which)."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from grader.results import Status
from grader.amqp import service
from grader.amqp.install import advice

CORPUS = Path(__file__).parent / "corpus"
CASES = sorted(p.name for p in CORPUS.iterdir() if (p / "expect.yaml").is_file())


def test_the_corpus_is_large_and_covers_each_exercise():
    assert len(CASES) >= 20
    exercises = [yaml.safe_load((CORPUS / c / "expect.yaml").read_text())["exercise"] for c in CASES]
    for exercise in ("producer", "consumer", "payment", "amqp_producer", "amqp_consumer", "amqp_routing"):
        assert exercises.count(exercise) >= 3


@pytest.mark.parametrize("case", CASES)
def test_corpus_submission(grader, case):
    expect = yaml.safe_load((CORPUS / case / "expect.yaml").read_text())
    if expect["exercise"].startswith("amqp_") and not service.available():
        pytest.skip(f"no RabbitMQ here: {advice()}")
    result = grader.grade(CORPUS / case).exercises[expect["exercise"]]
    outcome = {t.name: t for t in result.tests}
    grader_errors = {n: t.feedback for n, t in outcome.items() if t.status is Status.GRADER_ERROR}
    assert not grader_errors, f"a submission's mistake must fail its tests with feedback: {grader_errors}"
    if expect.get("full_marks"):
        failing = {n: t.feedback for n, t in outcome.items() if not t.passed}
        assert not failing and result.score == result.max_score, failing
        return
    must_fail = set(expect["must_fail"])
    may_fail = set(expect.get("may_fail") or [])
    assert must_fail <= set(outcome), f"unknown test names: {must_fail - set(outcome)}"
    for name in must_fail:
        assert not outcome[name].passed and outcome[name].score == 0, f"{name} did not catch: {expect['why']}"
        assert outcome[name].feedback
    kept = {n: t.feedback for n, t in outcome.items() if n not in must_fail | may_fail and not t.passed}
    assert not kept, f"tests lost that the mistake does not break: {kept}"
