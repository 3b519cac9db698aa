"""Scoring and grading: the answer keys' own examples, partial credit, bad answers files, manual scores."""
from __future__ import annotations

import itertools
import textwrap

import pytest

from grader.errors import UserError
from grader.quiz.grading import apply_manual_scores, grade_answers, grade_answers_file
from grader.quiz.loader import load_bank
from grader.quiz.schema import Matching, MultipleSelect, Numeric, Ordering, ShortAnswer, TrueFalse
from grader.quiz.scoring import evaluate
from grader.results import Status, SubmissionResult

EXAMPLES = [
    pytest.param(quiz.id, q.id, i, id=f"{quiz.id}-{q.id}-{i}")
    for quiz in load_bank().values() for q in quiz.questions for i, _ in enumerate(getattr(q, "examples", []))
]


@pytest.mark.parametrize("quiz_id, qid, index", EXAMPLES)
def test_answer_key_examples_earn_their_scores(quiz_id, qid, index):
    q = load_bank()[quiz_id].question(qid)
    example = q.examples[index]
    outcome = evaluate(q, example.response)
    assert outcome.kind == "scored"
    assert outcome.credit * q.points == pytest.approx(example.score, abs=1e-4), outcome.feedback


def test_every_auto_graded_question_has_a_full_and_a_failing_example():
    for quiz in load_bank().values():
        for q in quiz.questions:
            if q.type == "free_response":
                continue
            scores = [e.score for e in q.examples]
            assert q.points in scores and 0 in scores, f"{quiz.id}/{q.id}"


# ---------------------------------------------------------------- the course's answers

@pytest.mark.parametrize("qid", ["q1", "q2"])
def test_checkpoint_course_answer_is_the_only_full_one(qid):
    q = load_bank()["checkpoint"].question(qid)
    for letter in "ABCD":
        credit = evaluate(q, letter).credit
        assert credit == (1.0 if letter == "C" else 0.0), letter


def test_discussion_q1_only_a_and_d_earn_full_points():
    q = load_bank()["discussion"].question("q1")
    for size in range(1, 5):
        for picks in itertools.combinations("ABCD", size):
            credit = evaluate(q, list(picks)).credit
            assert (credit == 1.0) == (set(picks) == {"A", "D"}), picks


def test_the_contract_example_answers_grade():
    results = grade_answers(textwrap.dedent("""\
        checkpoint:
          q1: C
          q3: Brokers delete acknowledged messages to stay fast and bounded.
        discussion:
          q1: [A, D]
        """), load_bank())
    assert set(results) == {"checkpoint", "discussion"}
    checkpoint = {t.name.split(":")[0]: t for t in results["checkpoint"].tests}
    assert checkpoint["q1"].status is Status.PASSED and checkpoint["q1"].score == 1
    assert checkpoint["q2"].status is Status.FAILED and "No answer" in checkpoint["q2"].feedback
    assert checkpoint["q3"].status is Status.NEEDS_GRADING and checkpoint["q3"].score == 0
    assert results["discussion"].tests[0].score == results["discussion"].tests[0].max_score
    assert all(r.kind == "quiz" for r in results.values())


def test_free_response_shows_the_person_grading_its_rubric_and_model_answer():
    results = grade_answers("checkpoint:\n  q3: They delete to stay fast.\n", load_bank())
    test = results["checkpoint"].tests[2]
    q = load_bank()["checkpoint"].question("q3")
    assert test.name.startswith("q3")
    assert test.status is Status.NEEDS_GRADING and test.score == 0 and test.max_score == q.points
    assert "They delete to stay fast." in test.feedback
    assert q.model_answer in test.feedback
    assert all(r.criterion in test.feedback for r in q.rubric)


# ---------------------------------------------------------------- partial-credit schemes

def multiple(scoring: str) -> MultipleSelect:
    choices = {k: {"text": k, "feedback": f"about {k}", "correct": k in "ABC"} for k in "ABCDE"}
    return MultipleSelect(id="m", type="multiple", title="t", prompt="p", explanation="e", points=3,
                          scoring=scoring, choices=choices)


@pytest.mark.parametrize("scoring, picks, credit", [
    ("all_or_nothing", "ABC", 1), ("all_or_nothing", "AB", 0), ("all_or_nothing", "ABCD", 0),
    ("net_correct", "ABC", 1), ("net_correct", "AB", 2 / 3), ("net_correct", "ABD", 1 / 3),
    ("net_correct", "ADE", 0), ("net_correct", "DE", 0), ("net_correct", "ABCDE", 1 / 3),
    ("each_answer", "ABC", 1), ("each_answer", "AB", 4 / 5), ("each_answer", "ABD", 3 / 5),
    ("each_answer", "DE", 0), ("each_answer", "ABCDE", 3 / 5),
])
def test_multiple_select_schemes(scoring, picks, credit):
    outcome = evaluate(multiple(scoring), list(picks))
    assert outcome.credit == pytest.approx(credit)


def test_multiple_select_feedback_names_wrong_picks_and_misses():
    outcome = evaluate(multiple("net_correct"), ["A", "D"])
    assert "D (wrong pick): about D" in outcome.feedback
    assert "B (missed): about B" in outcome.feedback and "C (missed)" in outcome.feedback
    assert "E" not in outcome.feedback.split("\n", 1)[1]


def test_an_empty_selection_is_no_answer_even_under_each_answer():
    assert evaluate(multiple("each_answer"), []).kind == "missing"
    assert evaluate(multiple("each_answer"), []).credit == 0


def ordering(scoring: str) -> Ordering:
    return Ordering(id="o", type="ordering", title="t", prompt="p", explanation="e", scoring=scoring,
                    items={"A": "a", "B": "b", "C": "c", "D": "d"}, answer=["B", "D", "A", "C"])


@pytest.mark.parametrize("scoring, order, credit", [
    ("all_or_nothing", "BDAC", 1), ("all_or_nothing", "BDCA", 0),
    ("per_position", "BDAC", 1), ("per_position", "BDCA", 0.5), ("per_position", "DACB", 0),
    ("pairs", "BDAC", 1), ("pairs", "BDCA", 5 / 6), ("pairs", "CADB", 0), ("pairs", "DACB", 0.5),
])
def test_ordering_schemes(scoring, order, credit):
    assert evaluate(ordering(scoring), list(order)).credit == pytest.approx(credit)


@pytest.mark.parametrize("raw, words", [
    (["B", "D", "A"], "missing: C"), (["B", "D", "A", "A"], "A appear(s) twice"), (["B", "D", "A", "X"], "'X'"),
    ("B", "missing"), (7, "list of letters"),
])
def test_ordering_needs_every_item_once(raw, words):
    outcome = evaluate(ordering("pairs"), raw)
    assert outcome.kind == "invalid" and outcome.credit == 0 and words in outcome.feedback


def matching(scoring: str) -> Matching:
    return Matching(id="x", type="matching", title="t", prompt="p", explanation="e", scoring=scoring,
                    pairs=[{"prompt": "Purpose", "answer": "B"}, {"prompt": "Access", "answer": "A"},
                           {"prompt": "After read", "answer": "C"}, {"prompt": "Durability", "answer": "D"}],
                    options={"A": "Consume once", "B": "Temporary transit", "C": "Data deleted",
                             "D": "Until consumed", "E": "Permanent"})


@pytest.mark.parametrize("scoring, answer, credit", [
    ("each_answer", {1: "B", 2: "A", 3: "C", 4: "D"}, 1), ("each_answer", {1: "B", 2: "A", 3: "C", 4: "E"}, 0.75),
    ("each_answer", {"purpose": "B", "ACCESS": "a"}, 0.5), ("each_answer", ["B", "A", "E"], 0.5),
    ("each_answer", {"1": "B", "2": None}, 0.25),
    ("all_or_nothing", {1: "B", 2: "A", 3: "C", 4: "D"}, 1), ("all_or_nothing", {1: "B", 2: "A", 3: "C"}, 0),
])
def test_matching_schemes_and_answer_forms(scoring, answer, credit):
    outcome = evaluate(matching(scoring), answer)
    assert outcome.kind == "scored" and outcome.credit == pytest.approx(credit)


@pytest.mark.parametrize("raw, words", [
    ({9: "A"}, "not an item to match"), ({"Latency": "A"}, "not an item to match"), ({1: "Z"}, "'Z'"),
    ("B", "expected a mapping"),
])
def test_matching_rejects_unknown_items_and_options(raw, words):
    outcome = evaluate(matching("each_answer"), raw)
    assert outcome.kind == "invalid" and words in outcome.feedback


def short(match: str, answers: list[str]) -> ShortAnswer:
    return ShortAnswer(id="s", type="short_answer", title="t", prompt="p", explanation="e", match=match,
                       answers=answers, display=["at-least-once"] if match == "regex" else None)


@pytest.mark.parametrize("match, answers, given, credit", [
    ("exact", ["VisibilityTimeout"], "VisibilityTimeout", 1), ("exact", ["VisibilityTimeout"], "visibilitytimeout", 0),
    ("exact", ["Visibility Timeout"], "  Visibility   Timeout ", 1),
    ("case_insensitive", ["Auto-ack"], "AUTO-ACK", 1), ("case_insensitive", ["Auto-ack"], "auto ack", 0),
    ("regex", [r"at[- ]least[- ]once"], "At Least-Once", 1), ("regex", [r"at[- ]least[- ]once"], "not at-least-once", 0),
    ("regex", [r"at[- ]least[- ]once"], "at-least-once!", 0), ("case_insensitive", ["30"], 30, 1),
])
def test_short_answer_modes(match, answers, given, credit):
    assert evaluate(short(match, answers), given).credit == credit


def test_numeric_tolerance_and_forms():
    q = Numeric(id="n", type="numeric", title="t", prompt="p", explanation="e", answer=30, tolerance=1, unit="s")
    assert [evaluate(q, v).credit for v in (30, 31, 29, "30.5 s", "29", 31.01, 28.9)] == [1, 1, 1, 1, 1, 0, 0]
    for bad in (True, "thirty", [30], "nan", "inf"):
        assert evaluate(q, bad).kind == "invalid", bad


def test_true_false_forms():
    q = TrueFalse(id="t", type="true_false", title="t", prompt="p", explanation="e", answer=False,
                  feedback_true="ft", feedback_false="ff")
    assert [evaluate(q, v).credit for v in (False, "false", "F", "no", True, "True", "yes")] == [1, 1, 1, 1, 0, 0, 0]
    assert "ft" in evaluate(q, True).feedback
    assert evaluate(q, "maybe").kind == "invalid" and evaluate(q, 0).kind == "invalid"


STRANGE = [None, "", "   ", [], {}, 3, -1.5, True, False, "zz", "Z", [["A"]], [None], {"a": [1]}, {1: {2: 3}},
           ["A", 3], "A, B, ,", "1e309", "nan", "x" * 5000]


@pytest.mark.parametrize("raw", STRANGE, ids=range(len(STRANGE)))
def test_no_answer_ever_crashes_the_scorer(raw):
    for quiz in load_bank().values():
        for q in quiz.questions:
            outcome = evaluate(q, raw)
            assert 0 <= outcome.credit <= 1
            assert outcome.kind in ("scored", "missing", "invalid", "manual")
            if outcome.kind == "invalid":
                assert "\n" not in outcome.feedback


# ---------------------------------------------------------------- bad answers files

def test_no_answers_file_grades_no_quiz(tmp_path):
    assert grade_answers_file(None) == {}
    assert grade_answers_file(tmp_path / "answers.yaml") == {}


@pytest.mark.parametrize("text, words", [
    ("checkpoint:\n  q1: [C\n", "not valid YAML"),
    ("- C\n- A\n", "not a mapping"),
    ("just text\n", "not a mapping"),
    ("", "empty"),
    ("# only a comment\n", "empty"),
])
def test_an_unreadable_answers_file_zeroes_every_quiz_with_one_line(tmp_path, text, words):
    path = tmp_path / "answers.yaml"
    path.write_text(text, encoding="utf-8")
    results = grade_answers_file(path)
    assert set(results) == set(load_bank())
    for result in results.values():
        assert result.score == 0 and result.max_score > 0
        assert words in result.feedback and "\n" not in result.feedback
        assert all(t.status is Status.ERROR and words in t.feedback for t in result.tests)


def test_an_answers_file_that_is_not_utf8_is_one_line(tmp_path):
    path = tmp_path / "answers.yaml"
    path.write_bytes(b"checkpoint:\n  q1: \xff\xfe\n")
    results = grade_answers_file(path)
    assert all("not UTF-8" in r.feedback and r.score == 0 for r in results.values())


def test_unknown_quiz_and_question_are_named_and_the_rest_graded():
    results = grade_answers("checkpoints:\n  q1: C\ncheckpoint:\n  q1: C\n  q9: A\n", load_bank())
    assert "there is no quiz 'checkpoints' (did you mean 'checkpoint'?)" in results["checkpoints"].feedback
    assert results["checkpoints"].max_score == 0
    assert "answers.yaml:5: checkpoint has no question 'q9'" in results["checkpoint"].feedback
    assert results["checkpoint"].tests[0].score == 1


@pytest.mark.parametrize("answer, words", [
    ("E", "'E' is not one of the choices (A–D)"),
    ("[A, C]", "pick one letter"),
    ("42", "expected a letter"),
    ("{a: b}", "expected a letter"),
    ("true", "true/false"),
])
def test_a_bad_answer_scores_zero_with_one_line(answer, words):
    results = grade_answers(f"checkpoint:\n  q2: C\n  q1: {answer}\n", load_bank())
    q1, q2 = results["checkpoint"].tests[:2]
    assert q1.score == 0 and q1.status is Status.FAILED
    assert q1.feedback.startswith("answers.yaml:3: q1: ") and words in q1.feedback and "\n" not in q1.feedback
    assert q2.status is Status.PASSED


def test_a_question_answered_twice_is_spoilt_not_guessed():
    results = grade_answers("checkpoint:\n  q1: C\n  q1: A\n  q2: C\n", load_bank())
    q1, q2 = results["checkpoint"].tests[:2]
    assert q1.score == 0 and "answered twice" in q1.feedback
    assert q2.score == 1


def test_a_quiz_holding_a_single_value_is_spoilt():
    results = grade_answers("checkpoint: C\n", load_bank())
    assert results["checkpoint"].score == 0 and "should map question ids" in results["checkpoint"].feedback


def test_yes_and_no_stay_text_in_answers():
    concepts = load_bank()["concepts"]
    tf = next(q for q in concepts.questions if q.type == "true_false" and q.answer is True)
    results = grade_answers(f"concepts:\n  {tf.id}: yes\n", load_bank())
    test = next(t for t in results["concepts"].tests if t.name.startswith(f"{tf.id}:"))
    assert test.status is Status.PASSED


def test_every_test_name_starts_with_its_question_id():
    results = grade_answers("checkpoint: {}\ndiscussion: {}\nconcepts: {}\n", load_bank())
    for quiz_id, result in results.items():
        assert [t.name.split(":")[0] for t in result.tests] == [q.id for q in load_bank()[quiz_id].questions]


# ---------------------------------------------------------------- manual scores

def submission() -> SubmissionResult:
    return SubmissionResult(exercises=grade_answers(
        "checkpoint:\n  q1: C\n  q3: They stay fast.\ndiscussion:\n  q4: Send the key to the gateway.\n",
        load_bank()))


def test_manual_scores_fill_in_free_responses(tmp_path):
    manual = tmp_path / "manual.yaml"
    manual.write_text(textwrap.dedent("""\
        alice:
          checkpoint:
            q3: {points: 3, comment: Names all three reasons.}
          discussion:
            q4: {points: 1.5, comment: "Key at the gateway, but no word on the local flag."}
        bob:
          checkpoint:
            q3: 0
        """), encoding="utf-8")
    result = submission()
    before = result.score
    apply_manual_scores(result, "alice", manual)
    q3 = result.exercises["checkpoint"].tests[2]
    q4 = result.exercises["discussion"].tests[3]
    assert (q3.score, q3.status) == (3, Status.PASSED) and "Names all three reasons." in q3.feedback
    assert (q4.score, q4.status) == (1.5, Status.FAILED) and "no word on the local flag" in q4.feedback
    assert result.score == before + 4.5


def test_manual_scores_for_someone_else_change_nothing(tmp_path):
    manual = tmp_path / "manual.yaml"
    manual.write_text("bob:\n  checkpoint:\n    q3: 2\n12345:\n  checkpoint:\n    q3: 1\n", encoding="utf-8")
    result = submission()
    apply_manual_scores(result, "alice", manual)
    assert result.exercises["checkpoint"].tests[2].status is Status.NEEDS_GRADING
    apply_manual_scores(result, "12345", manual)
    assert result.exercises["checkpoint"].tests[2].score == 1


def test_manual_scores_skip_quizzes_the_student_did_not_answer(tmp_path):
    manual = tmp_path / "manual.yaml"
    manual.write_text("alice:\n  concepts:\n    q1: 1\n", encoding="utf-8")
    result = submission()
    apply_manual_scores(result, "alice", manual)
    assert "concepts" not in result.exercises


@pytest.mark.parametrize("text, words", [
    ("alice:\n  checkpoint:\n    q3: 4\n", "manual.yaml:3: alice/checkpoint/q3: 4 points is outside 0..3"),
    ("alice:\n  checkpoint:\n    q3: -1\n", "outside 0..3"),
    ("alice:\n  checkpoint:\n    q7: 1\n", "manual.yaml:3: alice/checkpoint/q7: checkpoint has no question 'q7'"),
    ("alice:\n  checkpoints:\n    q3: 1\n", "manual.yaml:2: alice: there is no quiz 'checkpoints'"),
    ("alice:\n  checkpoint:\n    q3: {points: many}\n", "points must be a number"),
    ("alice:\n  checkpoint:\n    q3: {score: 1}\n", "give {points: N, comment: ...}"),
    ("alice: [\n", "not valid YAML"),
    ("alice:\n  checkpoint:\n    q3: 1\n    q3: 2\n", "manual.yaml:4: duplicate key 'q3'"),
])
def test_bad_manual_scores_are_one_line_user_errors(tmp_path, text, words):
    manual = tmp_path / "manual.yaml"
    manual.write_text(text, encoding="utf-8")
    with pytest.raises(UserError) as info:
        apply_manual_scores(submission(), "alice", manual)
    assert words in str(info.value) and "\n" not in str(info.value)


def test_a_missing_manual_scores_file_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="no such manual scores file"):
        apply_manual_scores(submission(), "alice", tmp_path / "nope.yaml")


def test_a_mistake_for_any_student_stops_before_anyone_is_scored(tmp_path):
    manual = tmp_path / "manual.yaml"
    manual.write_text("alice:\n  checkpoint:\n    q3: 2\nbob:\n  checkpoint:\n    q3: 7\n", encoding="utf-8")
    result = submission()
    with pytest.raises(UserError, match="manual.yaml:6: bob/checkpoint/q3: 7 points is outside 0..3"):
        apply_manual_scores(result, "alice", manual)
    assert result.exercises["checkpoint"].tests[2].status is Status.NEEDS_GRADING


def test_answers_past_pythons_number_limits_are_invalid_answers_not_grader_errors():
    """A 400-digit number for a numeric question and a superscript digit as a matching key: each
    question says it cannot read the answer; nothing else of the quizzes changes."""
    bank = load_bank()
    numeric = next((quiz.id, q.id) for quiz in bank.values() for q in quiz.questions if q.type == "numeric")
    matching = next((quiz.id, q.id) for quiz in bank.values() for q in quiz.questions if q.type == "matching")
    answers = textwrap.dedent(f"""\
        {numeric[0]}:
          {numeric[1]}: {"9" * 400}
        {matching[0]}:
          {matching[1]}:
            "\u00b2": A
        """)
    results = grade_answers(answers, bank)
    statuses = {(quiz, t.name): t for quiz, e in results.items() for t in e.tests}
    assert not [k for k, t in statuses.items() if t.status is Status.GRADER_ERROR]
    for quiz_id, qid in (numeric, matching):
        test = next(t for (quiz, name), t in statuses.items() if quiz == quiz_id and name.split(":")[0] == qid)
        assert test.score == 0 and test.status is not Status.PASSED, (qid, test)
        assert f"{qid}:" in test.feedback and "No answer given" not in test.feedback, test.feedback  # read, refused
