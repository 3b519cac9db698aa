"""The course seed: the suites' data nobody can guess, the same bytes for the same seed, and the
same verdicts for another seed."""
from __future__ import annotations

from pathlib import Path

import pytest

from grader import course
from grader.errors import UserError
from grader.grade import Grader
from grader.harness.seeded import GUESSABLE_ACCOUNT, Course
from grader.paths import SOLUTIONS

CORPUS = Path(__file__).parent / "corpus"
SAMPLE = ["producer-guessed-url", "producer-naive-as-local", "consumer-batch-ignores-failed",
          "consumer-drops-after-three-failures", "payment-progress-of-any-payment", "payment-bool-amount"]


def verdicts(result) -> dict[str, dict[str, bool]]:
    return {name: {t.name: t.passed for t in exercise.tests} for name, exercise in result.exercises.items()}


def test_a_seed_draws_what_a_submission_cannot_guess():
    courses = [Course.from_seed(seed) for seed in range(40)]
    assert all(c.account != GUESSABLE_ACCOUNT and c.region != "us-east-1" for c in courses)
    assert all("UTC" not in c.zone and c.endpoint.startswith("http://") for c in courses)
    assert len({c.account for c in courses}) == 40 and len({c.key for c in courses}) == 40
    assert Course.from_seed(7) == Course.from_seed(7)
    assert Course.from_seed(7).data("t").task_data() == Course.from_seed(7).data("t").task_data()
    assert Course.from_seed(7).data("t").name("q") != Course.from_seed(8).data("t").name("q")


def test_the_seed_comes_from_the_flag_the_environment_or_the_config_file(tmp_path, monkeypatch):
    monkeypatch.delenv(course.ENV, raising=False)
    assert course.resolve_seed(folder=tmp_path) == course.DEFAULT_SEED
    (tmp_path / course.CONFIG_FILE).write_text("seed: 4242\n")
    assert course.resolve_seed(folder=tmp_path) == 4242
    monkeypatch.setenv(course.ENV, "17")
    assert course.resolve_seed(folder=tmp_path) == 17
    assert course.resolve_seed(3, folder=tmp_path) == 3
    monkeypatch.delenv(course.ENV)
    (tmp_path / course.CONFIG_FILE).write_text("seed: lots\n")
    with pytest.raises(UserError):
        course.resolve_seed(folder=tmp_path)


def test_same_seed_same_bytes_other_seed_same_verdicts():
    folders = [SOLUTIONS] + [CORPUS / case for case in SAMPLE]
    with Grader(seed=11) as first:
        a = [first.grade(f).to_json_dict() for f in folders]
        again = [first.grade(f).to_json_dict() for f in folders]
        base = [verdicts(first.grade(f)) for f in folders]
    assert a == again and all(r["seed"] == 11 for r in a)
    for seed in (1, 987654):
        with Grader(seed=seed) as other:
            assert [verdicts(other.grade(f)) for f in folders] == base, f"seed {seed} changed a verdict"


def test_grade_all_records_its_seed_in_every_row_and_a_new_seed_grades_everyone_again(tmp_path):
    import json
    import shutil

    from grader.cli import main as brokerlab

    source = tmp_path / "class"
    (source / "ada").mkdir(parents=True)
    shutil.copy(SOLUTIONS / "payment_handler.py", source / "ada" / "payment_handler.py")
    (source / "bob.zip").write_bytes(b"not a zip")
    out = tmp_path / "out"
    assert brokerlab(["grade-all", str(source), "--out", str(out), "--seed", "7", "--quiet"]) == 0
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert {r["student_id"]: r["seed"] for r in rows} == {"ada": 7, "bob": 7}
    assert brokerlab(["grade-all", str(source), "--out", str(out), "--seed", "8", "--quiet"]) == 0
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert {r["student_id"]: r["seed"] for r in rows} == {"ada": 8, "bob": 8}
