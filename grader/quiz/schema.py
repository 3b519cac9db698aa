"""The quiz file format as typed models: what a quiz YAML may hold, and the JSON Schema made from it.

The models are the enforced schema; ``quizzes/schema.json`` is generated from them (run
``python -m grader.quiz.schema``) so that editors can complete and check the YAML as it is typed.
What a schema cannot express (one right answer, a regex that compiles, ...) lives in
``grader.quiz.loader``.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StringConstraints

Letter = Annotated[str, StringConstraints(pattern=r"^[A-Z]$")]
Identifier = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]*$", max_length=40)]
Text = Annotated[str, StringConstraints(min_length=1)]

MultipleScoring = Literal["all_or_nothing", "net_correct", "each_answer"]
OrderingScoring = Literal["all_or_nothing", "per_position", "pairs"]
MatchingScoring = Literal["all_or_nothing", "each_answer"]
ShortAnswerMatch = Literal["exact", "case_insensitive", "regex"]


class _Strict(BaseModel):
    """A typo in a key must be an error, not a silently ignored field."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Choice(_Strict):
    text: Text = Field(description="The choice as the student sees it.")
    correct: StrictBool = Field(False, description="Whether picking this choice is right.")
    feedback: Text = Field(description="Shown to a student who picked this choice (or missed it, if it is right).")


class Example(_Strict):
    """A response with the score the real scorer must give it: the answer key's own test."""

    response: Any = Field(description="An answer as a student would write it in answers.yaml.")
    score: float = Field(ge=0, description="The points this response must earn.")
    note: str | None = Field(None, description="Why it earns that score.")


class _Question(_Strict):
    id: Identifier = Field(description="Unique within the quiz; the key in answers.yaml (q1, q2, ...).")
    title: Text = Field(description="A few words; the test name is '<id>: <title>'.")
    prompt: Text = Field(description="The question (Markdown).")
    points: float = Field(1.0, gt=0, description="The most this question can earn.")
    explanation: Text = Field(description="Why the right answer is right; shown with the feedback.")
    concept: str | None = Field(None, description="The course concept this question checks.")


class _AutoGraded(_Question):
    examples: list[Example] = Field(
        default_factory=list, description="Responses with the score they must earn (run by the tests).")


class SingleChoice(_AutoGraded):
    type: Literal["single"]
    choices: dict[Letter, Choice] = Field(
        min_length=2, description="Letters A, B, C, ... in order; exactly one is correct.")


class MultipleSelect(_AutoGraded):
    type: Literal["multiple"]
    choices: dict[Letter, Choice] = Field(
        min_length=2, description="Letters A, B, C, ... in order; at least one right and one wrong.")
    scoring: MultipleScoring = Field(description=(
        "all_or_nothing: full points only for exactly the right set; "
        "net_correct: (right picks - wrong picks) / number of right choices, floored at 0; "
        "each_answer: the share of choices judged correctly (picked if right, left if wrong)."))


class TrueFalse(_AutoGraded):
    type: Literal["true_false"]
    answer: StrictBool = Field(description="Whether the statement in the prompt is true.")
    feedback_true: Text = Field(description="Shown to a student who answered true.")
    feedback_false: Text = Field(description="Shown to a student who answered false.")


class ShortAnswer(_AutoGraded):
    type: Literal["short_answer"]
    answers: list[Text] = Field(min_length=1, description=(
        "Accepted answers; with match: regex, patterns that must match the whole answer."))
    match: ShortAnswerMatch = Field("case_insensitive", description=(
        "exact: same text; case_insensitive: same text ignoring case; regex: a pattern matches "
        "the whole answer, ignoring case. Surrounding and repeated spaces never count."))
    display: list[Text] | None = Field(None, description=(
        "Plain answers shown in exports and keys; required with match: regex, each accepted by a pattern."))


class Numeric(_AutoGraded):
    type: Literal["numeric"]
    answer: float = Field(description="The right value.")
    tolerance: float = Field(0.0, ge=0, description="Answers within answer ± tolerance are right.")
    unit: str | None = Field(None, description="Shown after the input, and allowed after the number.")


class Ordering(_AutoGraded):
    type: Literal["ordering"]
    items: dict[Letter, Text] = Field(
        min_length=2, description="The items, lettered A, B, C, ... in the (shuffled) order shown.")
    answer: list[Letter] = Field(min_length=2, description="Every item letter once, in the right order.")
    scoring: OrderingScoring = Field(description=(
        "all_or_nothing; per_position: the share of items in their right place; "
        "pairs: the share of item pairs in the right relative order."))


class MatchPair(_Strict):
    prompt: Text = Field(description="The left-hand side; numbered 1, 2, ... in this order.")
    answer: Letter = Field(description="The letter of its option.")


class Matching(_AutoGraded):
    type: Literal["matching"]
    pairs: list[MatchPair] = Field(min_length=2, description="The left-hand sides with their right option.")
    options: dict[Letter, Text] = Field(
        min_length=2, description="The right-hand sides, lettered A, B, ... ; extra ones are distractors.")
    scoring: MatchingScoring = Field(description="all_or_nothing, or each_answer: the share of pairs matched.")


class RubricItem(_Strict):
    points: float = Field(gt=0)
    criterion: Text = Field(description="What the answer must show to earn these points.")


class FreeResponse(_Question):
    type: Literal["free_response"]
    model_answer: Text = Field(description="What a full-marks answer says; shown to the person grading.")
    rubric: list[RubricItem] = Field(min_length=1, description="Its points add up to the question's points.")


Question = Annotated[
    Union[SingleChoice, MultipleSelect, TrueFalse, ShortAnswer, Numeric, Ordering, Matching, FreeResponse],
    Field(discriminator="type"),
]

TYPE_NAMES: dict[str, str] = {
    "single": "single choice",
    "multiple": "multiple select",
    "true_false": "true/false",
    "short_answer": "short answer",
    "numeric": "numeric",
    "ordering": "ordering",
    "matching": "matching",
    "free_response": "free response",
}


class Quiz(_Strict):
    """One quiz file: ``quizzes/<id>.yaml``."""

    id: Identifier = Field(description="The quiz id: the file's name and the key in answers.yaml.")
    title: Text
    source: str | None = Field(None, description="Where in the course the questions come from.")
    instructions: str | None = Field(None, description="Shown before the first question.")
    questions: list[Question] = Field(min_length=1)

    def question(self, question_id: str) -> Question | None:
        return next((q for q in self.questions if q.id == question_id), None)

    def public(self) -> "PublicQuiz":
        """The quiz as students may see it: no right answers, feedback, explanations or rubrics."""
        return PublicQuiz(id=self.id, title=self.title, instructions=self.instructions,
                          questions=[public_question(q) for q in self.questions])


# The student's view. It mirrors the attribute names of the full models, so that answer parsing
# and the terminal quiz work on either.

class PublicChoice(_Strict):
    text: Text


class PublicPair(_Strict):
    prompt: Text


class PublicQuestion(_Strict):
    id: Identifier
    type: Literal["single", "multiple", "true_false", "short_answer", "numeric", "ordering", "matching",
                  "free_response"]
    title: Text
    prompt: Text
    points: float = Field(gt=0)
    choices: dict[Letter, PublicChoice] | None = None
    scoring: str | None = None
    unit: str | None = None
    items: dict[Letter, Text] | None = None
    pairs: list[PublicPair] | None = None
    options: dict[Letter, Text] | None = None


class PublicQuiz(_Strict):
    """A quiz file of the student bundle."""

    public: Literal[True] = True
    id: Identifier
    title: Text
    instructions: str | None = None
    questions: list[PublicQuestion] = Field(min_length=1)

    def question(self, question_id: str) -> PublicQuestion | None:
        return next((q for q in self.questions if q.id == question_id), None)


def public_question(q: Question) -> PublicQuestion:
    fields: dict[str, Any] = {"id": q.id, "type": q.type, "title": q.title, "prompt": q.prompt,
                              "points": q.points}
    if isinstance(q, (SingleChoice, MultipleSelect)):
        fields["choices"] = {k: PublicChoice(text=c.text) for k, c in q.choices.items()}
    if isinstance(q, (MultipleSelect, Ordering, Matching)):
        fields["scoring"] = q.scoring
    if isinstance(q, Numeric):
        fields["unit"] = q.unit
    if isinstance(q, Ordering):
        fields["items"] = dict(q.items)
    if isinstance(q, Matching):
        fields["pairs"] = [PublicPair(prompt=p.prompt) for p in q.pairs]
        fields["options"] = dict(q.options)
    return PublicQuestion(**fields)


SCHEMA_FILE = Path(__file__).resolve().parents[2] / "quizzes" / "schema.json"


def _close_pattern_objects(node: Any) -> None:
    """Pydantic's patternProperties let any other key through; letters-only maps must not."""
    if isinstance(node, dict):
        if "patternProperties" in node:
            node.setdefault("additionalProperties", False)
        for value in node.values():
            _close_pattern_objects(value)
    elif isinstance(node, list):
        for value in node:
            _close_pattern_objects(value)


def json_schema() -> dict[str, Any]:
    schema = Quiz.model_json_schema()
    _close_pattern_objects(schema)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "Broker Lab quiz"
    schema["description"] = ("A quiz of the Broker Lab course module (quizzes/<id>.yaml). Generated from "
                             "grader/quiz/schema.py by `python -m grader.quiz.schema`; do not edit.")
    return schema


def json_schema_text() -> str:
    return json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    SCHEMA_FILE.write_text(json_schema_text(), encoding="utf-8")
    print(f"wrote {SCHEMA_FILE}")
