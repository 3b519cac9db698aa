"""The one data model of a grading result.

Everything the grader decides lands here; text, JSON, Gradescope, CSV, HTML and nbgrader are
renderings of it (see ``grader.render``). Scores are always derived from the tests, never stored
twice, so a rendering can never disagree with the verdicts.
"""
from __future__ import annotations

from enum import Enum
from typing import Annotated, Callable

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, computed_field

# Every string a student's files or code can fill is cut at construction, so one result, and so
# results.jsonl and the bulk parent's memory, stay bounded whatever the student's code printed or raised.
MAX_NAME = 200
MAX_FEEDBACK = 16 * 1024  # room for an honest free response, which the person grading reads here
MAX_OUTPUT = 4 * 1024
MAX_TRACEBACK = 8 * 1024
MAX_SHORT = 200  # concept, visibility, status


def cut(limit: int, keep: str = "head") -> Callable[[str | None], str | None]:
    """A validator keeping at most ``limit`` characters (the head, or the tail for output and
    tracebacks, whose end is what matters) and saying visibly how much was cut."""

    def validate(text: str | None) -> str | None:
        if text is None or len(text) <= limit:
            return text
        marker = f"[... {len(text) - limit} characters cut ...]"
        if keep == "tail":
            return marker + "\n" + text[-limit:]
        return text[:limit] + "\n" + marker

    return validate


Name = Annotated[str, AfterValidator(cut(MAX_NAME))]
Feedback = Annotated[str, AfterValidator(cut(MAX_FEEDBACK))]
Short = Annotated[str, AfterValidator(cut(MAX_SHORT))]


class Status(str, Enum):
    """How one test ended."""

    PASSED = "passed"
    FAILED = "failed"          # the submission's behaviour was wrong
    ERROR = "error"            # the submission could not be run for this test (missing, crashed at import)
    TIMEOUT = "timeout"        # the submission's code ran past the test's time limit
    NEEDS_GRADING = "needs a person"  # free response: waits for manual scores
    GRADER_ERROR = "grader error"     # a bug in the grader; reported, never a crash


class TestResult(BaseModel):
    """One test of one exercise, or one question of one quiz."""

    model_config = ConfigDict(use_enum_values=False, validate_assignment=True)
    __test__ = False  # not a pytest test class

    name: Name
    score: float
    max_score: float
    status: Status
    feedback: Feedback = ""
    concept: Short | None = None
    output: Annotated[str | None, AfterValidator(cut(MAX_OUTPUT, "tail"))] = Field(
        default=None, description="what the student's code printed (cut)")
    traceback: Annotated[str | None, AfterValidator(cut(MAX_TRACEBACK, "tail"))] = Field(
        default=None, description="the student's own traceback, for the instructor")
    visibility: Short = "visible"

    @computed_field  # type: ignore[prop-decorator]
    @property
    def passed(self) -> bool:
        return self.status is Status.PASSED


class ExerciseResult(BaseModel):
    """One exercise (producer, consumer, payment) or one quiz (checkpoint, ...)."""

    model_config = ConfigDict(validate_assignment=True)

    kind: Short = "code"  # "code" or "quiz"
    feedback: Feedback = ""  # one line about the exercise as a whole (e.g. why it could not be graded)
    tests: list[TestResult] = Field(default_factory=list)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def score(self) -> float:
        return round(sum(t.score for t in self.tests), 4)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def max_score(self) -> float:
        return round(sum(t.max_score for t in self.tests), 4)


class SubmissionResult(BaseModel):
    """A whole submission: every exercise and quiz found or expected."""

    exercises: dict[Name, ExerciseResult] = Field(default_factory=dict)
    status: Short = "ok"  # ok, empty, unreadable, timed out
    sandbox: Short = "full"  # full, or weak: graded without isolation (see SECURITY.md)
    seed: int | None = None  # the course seed the hidden suites drew their data from

    @computed_field  # type: ignore[prop-decorator]
    @property
    def score(self) -> float:
        return round(sum(e.score for e in self.exercises.values()), 4)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def max_score(self) -> float:
        return round(sum(e.max_score for e in self.exercises.values()), 4)

    def to_json_dict(self) -> dict:
        """The contract's JSON object (plus extra per-test fields the contract leaves open)."""
        data = self.model_dump(mode="json")
        # contract order: score, max_score, exercises
        return {"score": data["score"], "max_score": data["max_score"], "status": data["status"],
                "sandbox": data["sandbox"], "seed": data["seed"], "exercises": data["exercises"]}

    @classmethod
    def from_json_dict(cls, data: dict) -> "SubmissionResult":
        return cls.model_validate(data)
