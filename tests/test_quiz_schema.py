"""The quiz format: the bank is valid and faithful to the course, and every broken file is named by line."""
from __future__ import annotations

import json
import textwrap
import time
from pathlib import Path

import pytest
import yaml

from grader.paths import QUIZZES
from grader.quiz.loader import QuizFileError, YamlError, load_bank, load_quiz_file, read_yaml
from grader.quiz.schema import SCHEMA_FILE, TYPE_NAMES, json_schema_text

jsonschema = pytest.importorskip("jsonschema")


# ---------------------------------------------------------------- the bank itself

def test_bank_holds_the_four_quizzes():
    bank = load_bank()
    assert set(bank) == {"checkpoint", "discussion", "concepts", "amqp"}
    assert [q.id for q in bank["checkpoint"].questions] == ["q1", "q2", "q3"]
    assert [q.id for q in bank["discussion"].questions][:3] == ["q1", "q2", "q3"]


def test_bank_is_cached_per_process():
    first = load_bank()
    start = time.perf_counter()
    again = load_bank()
    assert again is first
    assert time.perf_counter() - start < 0.01


def test_schema_json_is_up_to_date():
    assert SCHEMA_FILE.read_text(encoding="utf-8") == json_schema_text(), \
        "quizzes/schema.json is stale: run `python -m grader.quiz.schema`"


@pytest.mark.parametrize("name", ["checkpoint", "discussion", "concepts"])
def test_each_quiz_file_passes_the_published_json_schema(name):
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    jsonschema.validate(yaml.safe_load((QUIZZES / f"{name}.yaml").read_text(encoding="utf-8")), schema)


def test_published_json_schema_rejects_what_the_models_reject():
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    data = yaml.safe_load((QUIZZES / "checkpoint.yaml").read_text(encoding="utf-8"))
    data["questions"][0]["choices"]["e"] = {"text": "x", "feedback": "y"}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(data, schema)
    data = yaml.safe_load((QUIZZES / "concepts.yaml").read_text(encoding="utf-8"))
    numeric = next(q for q in data["questions"] if q["type"] == "numeric")
    numeric["tolerance"] = -1
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(data, schema)


COURSE_CHECKPOINT = {
    "q1": ("What is the PRIMARY purpose of a message broker?",
           ["Long-term storage of messages", "Complex querying of message data",
            "Routing messages from producers to consumers", "Real-time analytics on messages"], "C"),
    "q2": ("What happens if a consumer crashes before sending an ACK?",
           ["Message is lost forever", "Message is automatically deleted",
            "Message is redelivered to another consumer", "Producer is notified of failure"], "C"),
}


@pytest.mark.parametrize("qid", ["q1", "q2"])
def test_checkpoint_choices_are_the_courses_in_its_order(qid):
    prompt, texts, answer = COURSE_CHECKPOINT[qid]
    q = load_bank()["checkpoint"].question(qid)
    assert q.type == "single" and q.prompt == prompt
    assert list(q.choices) == ["A", "B", "C", "D"]
    assert [c.text for c in q.choices.values()] == texts
    assert [k for k, c in q.choices.items() if c.correct] == [answer]
    assert q.explanation.startswith(f"{answer}) {texts[ord(answer) - ord('A')]}")


def test_checkpoint_q3_is_free_response_with_the_courses_answer():
    q = load_bank()["checkpoint"].question("q3")
    assert q.type == "free_response"
    assert q.prompt == "Why don't message brokers keep messages after they're consumed?"
    for phrase in ("Optimized for throughput", "Avoid unbounded growth", "Simplify delivery semantics",
                   "log-based brokers (Kafka, Kinesis)"):
        assert phrase in q.model_answer
    assert sum(r.points for r in q.rubric) == q.points >= 2


def test_discussion_q1_is_the_courses_multiple_select():
    q = load_bank()["discussion"].question("q1")
    assert q.type == "multiple"
    assert [c.text.split(" - ")[0] for c in q.choices.values()] == [
        "Task queue", "Real-time analytics", "Event log", "Email notifications"]
    assert [k for k, c in q.choices.items() if c.correct] == ["A", "D"]


def test_discussion_q2_teaches_the_key_at_the_gateway():
    q = load_bank()["discussion"].question("q2")
    local_flag = next(c for c in q.choices.values() if "already processed" in c.text)
    gateway_key = next(c for c in q.choices.values() if "payment gateway" in c.text)
    assert not local_flag.correct and gateway_key.correct
    assert "gateway itself" in q.explanation


def test_concepts_cover_the_richer_types():
    quiz = load_bank()["concepts"]
    assert len(quiz.questions) >= 12
    assert {"ordering", "matching", "multiple", "true_false", "short_answer", "numeric"} <= {
        q.type for q in quiz.questions}
    assert {q.scoring for q in quiz.questions if q.type == "multiple"} == {
        "all_or_nothing", "net_correct", "each_answer"}


def test_concepts_ordering_is_the_courses_lifecycle():
    q = next(q for q in load_bank()["concepts"].questions if q.type == "ordering")
    assert [q.items[letter] for letter in q.answer] == [
        "Producer sends message to broker", "Broker stores message in queue",
        "Broker delivers message to consumer", "Consumer processes message",
        "Consumer sends acknowledgment", "Broker deletes message"]


def test_concepts_matching_is_the_courses_table():
    q = next(q for q in load_bank()["concepts"].questions if q.type == "matching")
    broker = {p.prompt: q.options[p.answer] for p in q.pairs}
    assert broker == {"Purpose": "Temporary transit", "Access": "Consume once", "Durability": "Until consumed",
                      "Typical latency": "Microseconds-milliseconds", "Query support": "Simple: get next message",
                      "After read": "Data deleted"}
    database = {"Long-term storage", "Query anytime", "Permanent", "Milliseconds", "Rich queries (SQL)",
                "Data remains"}
    assert database <= set(q.options.values()) - set(broker.values())


def test_every_question_explains_itself_and_every_choice_has_feedback():
    for quiz in load_bank().values():
        for q in quiz.questions:
            assert q.explanation.strip()
            for choice in getattr(q, "choices", {}).values():
                assert choice.feedback.strip()
            assert q.type in TYPE_NAMES


# ---------------------------------------------------------------- broken files name file, line, question

VALID = """\
id: demo
title: Demo
questions:
  - id: q1
    type: single
    title: One
    prompt: Pick one.
    explanation: Because.
    choices:
      A: {text: first, feedback: f, correct: true}
      B: {text: second, feedback: f}
  - id: q2
    type: multiple
    title: Two
    prompt: Pick some.
    explanation: Because.
    scoring: net_correct
    choices:
      A: {text: first, feedback: f, correct: true}
      B: {text: second, feedback: f}
  - id: q3
    type: numeric
    title: Three
    prompt: How many?
    explanation: Because.
    answer: 3
    tolerance: 0.5
  - id: q4
    type: short_answer
    title: Four
    prompt: Say it.
    explanation: Because.
    match: regex
    answers: ['at[- ]least[- ]once']
    display: [at-least-once]
  - id: q5
    type: ordering
    title: Five
    prompt: Order.
    explanation: Because.
    items: {A: x, B: y, C: z}
    answer: [C, A, B]
    scoring: pairs
    examples:
      - {response: [C, A, B], score: 1}
"""


def write(tmp_path: Path, text: str, name: str = "demo") -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def problems_of(path: Path) -> list[str]:
    with pytest.raises(QuizFileError) as info:
        load_quiz_file(path)
    return [str(p) for p in info.value.problems]


def test_the_valid_demo_loads(tmp_path):
    quiz = load_quiz_file(write(tmp_path, VALID))
    assert [q.type for q in quiz.questions] == ["single", "multiple", "numeric", "short_answer", "ordering"]


@pytest.mark.parametrize("old, new, line, where, words", [
    ("  - id: q2\n", "  - id: q1\n", 12, "question q1", "duplicate question id 'q1' (first at line 4)"),
    ("answer: [C, A, B]", "answer: [C, A, D]", 42, "question q5", "the answer 'D' is not an item"),
    ("{response: [C, A, B], score: 1}", "{response: [C, A, E], score: 1}", 45, "question q5",
     "not an answer: 'E' is not one of the items"),
    ("      B: {text: second, feedback: f}\n  - id: q2",
     "      B: {text: second, feedback: f, correct: true}\n  - id: q2", 9, "question q1",
     "exactly one right answer"),
    ("A: {text: first, feedback: f, correct: true}\n      B: {text: second, feedback: f}\n  - id: q3",
     "A: {text: first, feedback: f, correct: true}\n      B: {text: second, feedback: f, correct: true}\n  - id: q3",
     18, "question q2", "at least one wrong choice"),
    ("['at[- ]least[- ]once']", "['at[- least']", 34, "question q4", "does not compile"),
    ("tolerance: 0.5", "tolerance: -0.5", 27, "question q3", "tolerance: Input should be greater than or equal to 0"),
    ("    title: Three\n", "    title: Three\n    title: Again\n", 24, "question q3", "duplicate key 'title' (first at line 23)"),
    ("{text: second, feedback: f}\n  - id: q3", "{text: no, feedback: f}\n  - id: q3", 20, "question q2",
     "unquoted 'no' is read by YAML as a boolean"),
    ("    prompt: How many?\n", "    promt: How many?\n", 24, "question q3", "unknown key"),
    ("type: numeric", "type: numerik", 21, "question q3", "unknown question type 'numerik'"),
    ("display: [at-least-once]", "display: [at most once]", 35, "question q4", "is not accepted by answers"),
    ("      B: {text: second, feedback: f}\n  - id: q2", "      C: {text: second, feedback: f}\n  - id: q2",
     9, "question q1", "lettered A, B, C"),
    ("id: demo", "id: other", 1, "quiz", "must be the file's name"),
])
def test_each_broken_rule_is_reported_with_file_line_and_question(tmp_path, old, new, line, where, words):
    assert old in VALID
    path = write(tmp_path, VALID.replace(old, new, 1))
    problems = problems_of(path)
    expected_prefix = f"{path}:{line}: {where}: "
    assert any(p.startswith(expected_prefix) and words in p for p in problems), problems


def test_free_response_rubric_must_add_up(tmp_path):
    path = write(tmp_path, VALID + textwrap.indent(textwrap.dedent("""\
        - id: q6
          type: free_response
          title: Six
          prompt: Explain.
          explanation: Because.
          points: 3
          model_answer: This.
          rubric: [{points: 1, criterion: says this}]
        """), "  "))
    assert any(":53: question q6: the rubric's points add up to 1" in p for p in problems_of(path))


def test_free_response_takes_no_examples(tmp_path):
    path = write(tmp_path, VALID + textwrap.indent(textwrap.dedent("""\
        - id: q6
          type: free_response
          title: Six
          prompt: Explain.
          explanation: Because.
          model_answer: This.
          rubric: [{points: 1, criterion: says this}]
          examples: [{response: x, score: 0}]
        """), "  "))
    assert any("question q6: examples: unknown key" in p for p in problems_of(path))


def test_every_problem_of_a_file_is_reported_at_once(tmp_path):
    broken = VALID.replace("tolerance: 0.5", "tolerance: -1").replace("type: numeric\n", "type: numeric\n", 1)
    broken = broken.replace("    prompt: Order.\n", "")
    problems = problems_of(write(tmp_path, broken))
    assert len(problems) == 2 and all(str(tmp_path) in p for p in problems)


def test_not_yaml_is_one_line_with_its_line(tmp_path):
    path = write(tmp_path, "id: demo\ntitle: [unclosed\nquestions: []\n")
    (problem,) = problems_of(path)
    assert problem.startswith(f"{path}:") and "not valid YAML" in problem and "\n" not in problem


def test_a_broken_bank_names_the_file(tmp_path):
    write(tmp_path, VALID)
    write(tmp_path, "id: other\ntitle: x\nquestions: []\n", name="other")
    with pytest.raises(QuizFileError) as info:
        load_bank(tmp_path)
    assert "other.yaml:3: quiz: questions" in str(info.value)


def test_yaml_reader_refuses_an_alias_bomb():
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
        f"*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
        for i in range(8))
    with pytest.raises(YamlError, match="more than"):
        read_yaml(bomb, yes_no_strings=True)


def test_yaml_reader_keeps_yes_no_as_text_for_answers():
    doc = read_yaml("q1: no\nq2: 'yes'\nq3: true\n", yes_no_strings=True)
    assert doc.data == {"q1": "no", "q2": "yes", "q3": True}
    assert doc.problems == []
