"""A student's answers.yaml -> one ExerciseResult per quiz, and a person's scores for free responses.

A bad answers file never crashes grading: whatever it spoils scores 0 with one line saying why,
and everything else is still graded. The file is the student's, so it is hostile input: it is read
without anchors or aliases and within size, depth and count limits; a key naming a code exercise
(``producer``) is reported under a key of its own, never under the exercise's; at most
``MAX_UNKNOWN_QUIZZES`` keys that name no quiz are reported one by one.
"""
from __future__ import annotations

import difflib
import functools
from pathlib import Path
from typing import Any

from grader.errors import UserError
from grader.paths import ANSWERS_FILE, EXERCISE_FILES
from grader.quiz.loader import YamlDoc, YamlError, load_bank, read_yaml
from grader.quiz.schema import FreeResponse, Question, Quiz
from grader.quiz.scoring import evaluate
from grader.results import ExerciseResult, Status, SubmissionResult, TestResult


MAX_UNKNOWN_QUIZZES = 10
MAX_RESPONSE = 12 * 1024  # characters of a free response echoed for the person grading it


def not_a_quiz_key(key: str, name: str = ANSWERS_FILE) -> str:
    """Where a top-level key of the answers file that names a code exercise is reported."""
    return f"{key} (in {name})"


def question_test_name(q: Question) -> str:
    return f"{q.id}: {q.title}"


def _question_id_of(test: TestResult) -> str:
    return test.name.split(":", 1)[0]


def free_response_feedback(q: FreeResponse, response: str) -> str:
    rubric = "\n".join(f"- [{r.points:g}] {r.criterion}" for r in q.rubric)
    if len(response) > MAX_RESPONSE:
        response = response[:MAX_RESPONSE] + f" [... {len(response) - MAX_RESPONSE} characters cut ...]"
    return (f"Waits for a person to grade it.\nAnswer given: {response}\n"
            f"Rubric ({q.points:g} points):\n{rubric}\nModel answer:\n{q.model_answer}")


def grade_question(q: Question, raw: Any, where: str = ANSWERS_FILE) -> TestResult:
    """One question: the scorer's verdict as a test result (never raises for a bad response).

    ``where`` (file and line) prefixes the one line that explains an unusable answer.
    """
    outcome = evaluate(q, raw)
    score = round(outcome.credit * q.points, 4)
    if outcome.kind == "manual":
        feedback = free_response_feedback(q, str(raw).strip())  # type: ignore[arg-type]
        status = Status.NEEDS_GRADING
    elif outcome.kind == "invalid":
        feedback = f"{where}: {q.id}: {outcome.feedback}; scored 0"
        status = Status.FAILED
    elif outcome.kind == "missing":
        feedback = outcome.feedback
        status = Status.FAILED
    else:
        feedback = f"{outcome.feedback}\nExplanation: {q.explanation}"
        status = Status.PASSED if outcome.credit >= 1.0 else Status.FAILED
    return TestResult(name=question_test_name(q), score=score, max_score=q.points, status=status,
                      feedback=feedback, concept=q.concept)


def _spoilt(quiz: Quiz, reason: str, status: Status = Status.FAILED) -> ExerciseResult:
    tests = [TestResult(name=question_test_name(q), score=0.0, max_score=q.points, status=status, feedback=reason,
                        concept=q.concept) for q in quiz.questions]
    return ExerciseResult(kind="quiz", feedback=reason, tests=tests)


def _suggest(word: str, known: list[str]) -> str:
    close = difflib.get_close_matches(word, known, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def grade_quiz(quiz: Quiz, answers: Any, doc: YamlDoc | None = None, name: str = ANSWERS_FILE) -> ExerciseResult:
    """One quiz from the student's mapping of question id -> answer."""
    if answers is None:
        answers = {}
    if not isinstance(answers, dict):
        return _spoilt(quiz, f"{name}: {quiz.id!r} should map question ids to answers (q1: C), "
                             "not hold a single value")
    notes: list[str] = []
    known = [q.id for q in quiz.questions]
    for key in answers:
        if str(key) not in known:
            line = f":{doc.line_of((quiz.id, key))}" if doc else ""
            notes.append(f"{name}{line}: {quiz.id} has no question {str(key)!r}{_suggest(str(key), known)}; "
                         f"its questions are {', '.join(known)}")
    duplicated = {path[1] for path, _, message in (doc.problems if doc else [])
                  if len(path) == 2 and path[0] == quiz.id and message.startswith("duplicate key")}
    tests = []
    for q in quiz.questions:
        if q.id in duplicated:
            line = doc.line_of((quiz.id, q.id)) if doc else 0
            reason = f"{name}:{line}: {q.id} is answered twice; give one answer"
            tests.append(TestResult(name=question_test_name(q), score=0.0, max_score=q.points, status=Status.FAILED,
                                    feedback=reason, concept=q.concept))
            notes.append(reason)
            continue
        where = f"{name}:{doc.line_of((quiz.id, q.id))}" if doc is not None and q.id in answers else name
        tests.append(grade_question(q, answers.get(q.id), where))
    return ExerciseResult(kind="quiz", feedback="; ".join(notes), tests=tests)


def grade_answers(text: str, bank: dict[str, Quiz], name: str = ANSWERS_FILE) -> dict[str, ExerciseResult]:
    """Every quiz named in the answers text; see ``grade_answers_file``."""
    try:
        doc = read_yaml(text, yes_no_strings=True, aliases=False)
    except YamlError as exc:
        where = f"{name}:{exc.line}" if exc.line else name
        reason = f"{where}: {exc}; no quiz answer could be read"
        return {quiz_id: _spoilt(quiz, reason, Status.ERROR) for quiz_id, quiz in bank.items()}
    if not isinstance(doc.data, dict) or not doc.data:
        what = "empty" if doc.data in (None, {}) else "not a mapping of quiz ids to answers"
        reason = f"{name} is {what}; write e.g. 'checkpoint:' then '  q1: C' on the next line"
        return {quiz_id: _spoilt(quiz, reason, Status.ERROR) for quiz_id, quiz in bank.items()}
    results: dict[str, ExerciseResult] = {}
    duplicated_quizzes = {path[0] for path, _, message in doc.problems
                          if len(path) == 1 and message.startswith("duplicate key")}
    unknown: list[str] = []
    for key, answers in doc.data.items():
        quiz_id = str(key)
        quiz = bank.get(quiz_id)
        if quiz is None:
            unknown.append(quiz_id)
            if len(unknown) > MAX_UNKNOWN_QUIZZES:
                continue
            where = f"{name}:{doc.line_of((key,))}"
            if quiz_id in EXERCISE_FILES:
                results[not_a_quiz_key(quiz_id, name)] = ExerciseResult(kind="quiz", feedback=(
                    f"{where}: {quiz_id!r} is a code exercise, not a quiz; the quizzes are {', '.join(bank)}; "
                    "nothing under it was graded"))
            else:
                results[quiz_id] = ExerciseResult(kind="quiz", feedback=(
                    f"{where}: there is no quiz {quiz_id!r}{_suggest(quiz_id, list(bank))}; "
                    f"the quizzes are {', '.join(bank)}; nothing under it was graded"))
            continue
        if quiz_id in duplicated_quizzes:
            results[quiz_id] = _spoilt(quiz, f"{name}:{doc.line_of((key,))}: {quiz_id} appears twice; "
                                             "put all its answers under one key")
            continue
        results[quiz_id] = grade_quiz(quiz, answers, doc, name)
    if len(unknown) > MAX_UNKNOWN_QUIZZES:
        results[f"{name}: other keys"] = ExerciseResult(kind="quiz", feedback=(
            f"{name}: {len(unknown) - MAX_UNKNOWN_QUIZZES} more keys name no quiz; "
            f"the quizzes are {', '.join(bank)}; nothing under them was graded"))
    return results


def not_answered(quiz: Quiz, reason: str) -> ExerciseResult:
    """A quiz the submission does not answer: every question a test at 0, so the maximum stays the quiz's."""
    return _spoilt(quiz, f"Not answered: {reason}", Status.ERROR)


def every_quiz(results: dict[str, ExerciseResult], bank: dict[str, Quiz], name: str = ANSWERS_FILE,
               found: bool = True) -> dict[str, ExerciseResult]:
    """Every quiz of the bank in the bank's order, answered or not, then what else the file named.

    An assignment has one maximum: a quiz left out of the answers file (or a submission without
    one, ``found`` false) is there with each question at 0, not missing from the total.
    """
    reason = f"{name} has no answers for this quiz" if found else f"the submission has no {name}"
    quizzes = {quiz_id: results.get(quiz_id) or not_answered(quiz, reason) for quiz_id, quiz in bank.items()}
    return {**quizzes, **{key: result for key, result in results.items() if key not in bank}}


def grade_answers_file(path: Path | None) -> dict[str, ExerciseResult]:
    """The results of every quiz named in the student's answers.yaml.

    None or a missing file gives {}. A file that cannot be read as a mapping gives every known
    quiz with all questions at 0 and one line saying why.
    """
    if path is None or not path.is_file():
        return {}
    bank = load_bank()
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError:
        reason = f"{path.name} is not UTF-8 text; no quiz answer could be read"
        return {quiz_id: _spoilt(quiz, reason, Status.ERROR) for quiz_id, quiz in bank.items()}
    except OSError as exc:
        reason = f"{path.name} cannot be read ({exc.strerror}); no quiz answer could be read"
        return {quiz_id: _spoilt(quiz, reason, Status.ERROR) for quiz_id, quiz in bank.items()}
    return grade_answers(text, bank, path.name)


# ---------------------------------------------------------------- scores given by a person

ManualScores = dict[str, dict[str, dict[str, tuple[float, str]]]]  # student -> quiz -> question -> (points, comment)


def _manual_entry(path: Path, line: int, where: str, entry: Any, max_score: float) -> tuple[float, str]:
    if isinstance(entry, (int, float)) and not isinstance(entry, bool):
        points, comment = float(entry), ""
    elif isinstance(entry, dict) and "points" in entry and set(entry) <= {"points", "comment"}:
        points, comment = entry["points"], entry.get("comment") or ""
        if isinstance(points, bool) or not isinstance(points, (int, float)):
            raise UserError(f"{path}:{line}: {where}: points must be a number")
        points = float(points)
        comment = " ".join(str(comment).split())
    else:
        raise UserError(f"{path}:{line}: {where}: give {{points: N, comment: ...}} or just the points")
    if not 0 <= points <= max_score:
        raise UserError(f"{path}:{line}: {where}: {points:g} points is outside 0..{max_score:g}")
    return points, comment


@functools.lru_cache(maxsize=8)
def _read_manual(path_text: str, mtime_ns: int, size: int) -> ManualScores:
    """The whole file, checked at once (so a typo for one student stops a bulk run before it starts)."""
    path = Path(path_text)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: cannot read the manual scores: {exc}") from None
    try:
        doc = read_yaml(text, yes_no_strings=True)
    except YamlError as exc:
        raise UserError(f"{path}:{exc.line or 1}: {exc}") from None
    if doc.problems:
        _, line, message = doc.problems[0]
        raise UserError(f"{path}:{line}: {message}")
    data = doc.data or {}
    if not isinstance(data, dict):
        raise UserError(f"{path}:1: manual scores map student -> quiz -> question -> points and comment")
    bank = load_bank()
    scores: ManualScores = {}
    for student_key, quizzes in data.items():
        student = str(student_key)
        line = doc.line_of((student_key,))
        if quizzes is None:
            continue
        if not isinstance(quizzes, dict):
            raise UserError(f"{path}:{line}: {student}: map quiz ids to questions")
        for quiz_key, questions in quizzes.items():
            quiz_id = str(quiz_key)
            line = doc.line_of((student_key, quiz_key))
            quiz = bank.get(quiz_id)
            if quiz is None:
                raise UserError(f"{path}:{line}: {student}: there is no quiz {quiz_id!r}")
            if not isinstance(questions, dict):
                raise UserError(f"{path}:{line}: {student}/{quiz_id}: map question ids to points")
            for question_key, entry in questions.items():
                qid = str(question_key)
                line = doc.line_of((student_key, quiz_key, question_key))
                where = f"{student}/{quiz_id}/{qid}"
                q = quiz.question(qid)
                if q is None:
                    raise UserError(f"{path}:{line}: {where}: {quiz_id} has no question {qid!r}")
                scores.setdefault(student, {}).setdefault(quiz_id, {})[qid] = _manual_entry(
                    path, line, where, entry, q.points)
    return scores


def read_manual_scores(manual_file: Path) -> ManualScores:
    """Every score in the file, validated against the quiz bank; cached while the file is unchanged."""
    try:
        stat = manual_file.stat()
    except OSError:
        raise UserError(f"{manual_file}: no such manual scores file") from None
    return _read_manual(str(manual_file), stat.st_mtime_ns, stat.st_size)


def apply_manual_scores(result: SubmissionResult, student_id: str, manual_file: Path) -> None:
    """Fill in the scores a person gave (free responses, or a regrade) for one student.

    The file maps student -> quiz -> question -> ``{points, comment}`` (or just points). Entries for
    quizzes this submission did not answer are skipped; anything malformed anywhere in the file is a
    one-line UserError naming its line.
    """
    for quiz_id, questions in read_manual_scores(manual_file).get(str(student_id), {}).items():
        exercise = result.exercises.get(quiz_id)
        if exercise is None:
            continue
        for i, test in enumerate(exercise.tests):
            if _question_id_of(test) in questions:
                points, comment = questions[_question_id_of(test)]
                status = Status.PASSED if points >= test.max_score else Status.FAILED
                feedback = f"Graded by a person: {points:g}/{test.max_score:g}." + (f" {comment}" if comment else "")
                exercise.tests[i] = test.model_copy(update={"score": points, "status": status, "feedback": feedback})
