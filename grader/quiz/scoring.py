"""Scoring: a student's raw answer to one question -> credit in [0, 1] and feedback.

Two steps, both pure. ``parse_answer`` turns what YAML gave (a letter, a list, a number, a
mapping, text) into the question type's normal form, or raises ``AnswerError`` with one line a
student can act on; it needs no answer key, so the terminal quiz uses it on the public quiz too.
``score`` judges a parsed answer with one function per question type.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Literal

from grader.quiz.schema import (
    FreeResponse, Matching, MultipleSelect, Numeric, Ordering, Question, ShortAnswer, SingleChoice, TrueFalse,
)

Kind = Literal["scored", "missing", "invalid", "manual"]


class AnswerError(ValueError):
    """A response that is not an answer of the question's type (one line, for the student)."""


@dataclass(frozen=True)
class Outcome:
    credit: float  # share of the question's points, 0..1
    feedback: str
    kind: Kind = "scored"  # missing: no answer; invalid: not an answer of this type; manual: needs a person


# ---------------------------------------------------------------- parsing (no answer key needed)

_TRUE = {"true", "t", "yes", "y"}
_FALSE = {"false", "f", "no", "n"}
_SEPARATORS = re.compile(r"[\s,;>]+|->|→")


def _letter_range(letters: list[str]) -> str:
    return f"{letters[0]}–{letters[-1]}" if len(letters) > 2 else " or ".join(letters)


def _as_letter(raw: Any, letters: list[str], what: str = "choice") -> str:
    if not isinstance(raw, str):
        raise AnswerError(f"expected a letter ({_letter_range(letters)}), got {_show(raw)}")
    letter = raw.strip().rstrip(").").strip().upper()
    if letter not in letters:
        raise AnswerError(f"{_show(raw)} is not one of the {what}s ({_letter_range(letters)})")
    return letter


def _letters_list(raw: Any, letters: list[str], what: str = "choice") -> list[str]:
    """A list of letters, or a string of them (``A, D`` / ``A D`` / ``AD``)."""
    if isinstance(raw, str):
        parts = [p for p in _SEPARATORS.split(raw.strip()) if p]
        if len(parts) == 1 and len(parts[0]) > 1 and parts[0].isalpha():
            parts = list(parts[0])
        raw = parts
    if not isinstance(raw, list):
        raise AnswerError(f"expected a list of letters such as [{', '.join(letters[:2])}], got {_show(raw)}")
    return [_as_letter(item, letters, what) for item in raw]


def _text(raw: Any) -> str:
    if isinstance(raw, bool) or not isinstance(raw, (str, int, float)):
        raise AnswerError(f"expected text, got {_show(raw)}")
    return " ".join(str(raw).split())


def _show(raw: Any) -> str:
    if isinstance(raw, str):
        return repr(raw if len(raw) <= 40 else raw[:37] + "...")
    if isinstance(raw, bool):
        return f"{str(raw).lower()} (a true/false value)"
    if isinstance(raw, list):
        return "a list"
    if isinstance(raw, dict):
        return "a mapping"
    return repr(raw)


def parse_answer(q: Any, raw: Any) -> Any:
    """The normal form of ``raw`` for question ``q`` (full or public), or None when unanswered."""
    if raw is None or (isinstance(raw, (list, dict)) and not raw) or (isinstance(raw, str) and not raw.strip()):
        return None
    kind = q.type
    if kind == "single":
        letters = list(q.choices)
        if isinstance(raw, list):
            if len(raw) != 1:
                raise AnswerError(f"pick one letter ({_letter_range(letters)}), not {len(raw)}")
            raw = raw[0]
        return _as_letter(raw, letters)
    if kind == "multiple":
        picks = _letters_list(raw, list(q.choices))
        return sorted(set(picks)) or None
    if kind == "true_false":
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and raw.strip().lower() in _TRUE | _FALSE:
            return raw.strip().lower() in _TRUE
        raise AnswerError(f"answer true or false, not {_show(raw)}")
    if kind in ("short_answer", "free_response"):
        return _text(raw)
    if kind == "numeric":
        return _number(raw, q.unit)
    if kind == "ordering":
        letters = list(q.items)
        order = _letters_list(raw, letters, "item")
        dupes = sorted({x for x in order if order.count(x) > 1})
        if dupes:
            raise AnswerError(f"each item goes in once; {', '.join(dupes)} appear(s) twice")
        missing = [x for x in letters if x not in order]
        if missing:
            raise AnswerError(f"put all {len(letters)} items in order; missing: {', '.join(missing)}")
        return order
    if kind == "matching":
        return _matching(q, raw)
    raise AnswerError(f"unknown question type {kind!r}")


def _number(raw: Any, unit: str | None) -> float:
    if isinstance(raw, bool):
        raise AnswerError(f"expected a number, got {_show(raw)}")
    if isinstance(raw, (int, float)):
        try:
            value = float(raw)
        except OverflowError:  # an int past any float
            raise AnswerError(f"expected a number this question can take, got {_show(raw)}") from None
    elif isinstance(raw, str):
        text = raw.strip().replace(",", "")
        if unit and text.lower().endswith(unit.lower()):
            text = text[: -len(unit)].strip()
        try:
            value = float(text)
        except ValueError:
            raise AnswerError(f"expected a number, got {_show(raw)}") from None
    else:
        raise AnswerError(f"expected a number, got {_show(raw)}")
    if not math.isfinite(value):
        raise AnswerError(f"expected a finite number, got {_show(raw)}")
    return value


def _matching(q: Any, raw: Any) -> dict[int, str]:
    """Pair number (1-based) -> option letter. Keys may be numbers or the left-hand texts."""
    prompts = [p.prompt for p in q.pairs]
    letters = list(q.options)
    if isinstance(raw, list):
        if len(raw) > len(prompts):
            raise AnswerError(f"there are {len(prompts)} items to match, the list has {len(raw)}")
        raw = {i + 1: v for i, v in enumerate(raw) if v is not None}
    if not isinstance(raw, dict):
        raise AnswerError(f"expected a mapping such as {{1: {letters[0]}, 2: {letters[1]}}}, got {_show(raw)}")
    by_text = {" ".join(p.split()).casefold(): i + 1 for i, p in enumerate(prompts)}
    result: dict[int, str] = {}
    for key, value in raw.items():
        number: int | None = None
        if isinstance(key, int) and not isinstance(key, bool):
            number = key
        elif isinstance(key, str):
            k = " ".join(key.split()).casefold()
            number = int(k) if k.isascii() and k.isdigit() and len(k) <= 6 else by_text.get(k)
        if number is None or not 1 <= number <= len(prompts):
            raise AnswerError(f"{_show(key)} is not an item to match (use 1–{len(prompts)})")
        if value is None:
            continue
        result[number] = _as_letter(value, letters, "option")
    return dict(sorted(result.items())) or None  # type: ignore[return-value]


# ---------------------------------------------------------------- scoring (one function per type)

def score_single(q: SingleChoice, letter: str) -> Outcome:
    choice = q.choices[letter]
    verdict = "Right." if choice.correct else "Not right."
    return Outcome(1.0 if choice.correct else 0.0, f"You chose {letter}. {verdict} {choice.feedback}")


def score_multiple(q: MultipleSelect, picks: list[str]) -> Outcome:
    right = {k for k, c in q.choices.items() if c.correct}
    picked = set(picks)
    if q.scoring == "all_or_nothing":
        credit = 1.0 if picked == right else 0.0
    elif q.scoring == "net_correct":
        credit = max(0.0, (len(picked & right) - len(picked - right)) / len(right))
    else:  # each_answer
        judged = sum(1 for k in q.choices if (k in picked) == (k in right))
        credit = judged / len(q.choices)
    lines = [f"You chose {', '.join(sorted(picked))}."]
    for k, c in q.choices.items():
        if k in picked:
            lines.append(f"{k} ({'right' if c.correct else 'wrong'} pick): {c.feedback}")
        elif c.correct:
            lines.append(f"{k} (missed): {c.feedback}")
    return Outcome(credit, "\n".join(lines))


def score_true_false(q: TrueFalse, value: bool) -> Outcome:
    verdict = "Right." if value == q.answer else "Not right."
    said = "true" if value else "false"
    return Outcome(1.0 if value == q.answer else 0.0,
                   f"You answered {said}. {verdict} {q.feedback_true if value else q.feedback_false}")


def short_answer_accepts(q: ShortAnswer, text: str) -> bool:
    text = " ".join(text.split())
    if q.match == "regex":
        return any(re.fullmatch(p, text, re.IGNORECASE) for p in q.answers)
    accepted = [" ".join(a.split()) for a in q.answers]
    if q.match == "exact":
        return text in accepted
    return text.casefold() in {a.casefold() for a in accepted}


def score_short_answer(q: ShortAnswer, text: str) -> Outcome:
    if short_answer_accepts(q, text):
        return Outcome(1.0, f"You answered {text!r}. Right.")
    hint = " (case matters here)" if q.match == "exact" else ""
    return Outcome(0.0, f"You answered {text!r}. That is not an accepted answer{hint}.")


def numeric_accepts(q: Numeric, value: float) -> bool:
    return abs(value - q.answer) <= q.tolerance + 1e-9 * max(1.0, abs(q.answer))


def score_numeric(q: Numeric, value: float) -> Outcome:
    unit = f" {q.unit}" if q.unit else ""
    if numeric_accepts(q, value):
        return Outcome(1.0, f"You answered {value:g}{unit}. Right.")
    return Outcome(0.0, f"You answered {value:g}{unit}. Not right.")


def score_ordering(q: Ordering, order: list[str]) -> Outcome:
    n = len(q.answer)
    in_place = sum(1 for a, b in zip(order, q.answer) if a == b)
    if q.scoring == "all_or_nothing":
        credit = 1.0 if order == q.answer else 0.0
        detail = "" if credit else " Not all items are in the right place."
    elif q.scoring == "per_position":
        credit = in_place / n
        detail = f" {in_place} of {n} items are in their right place."
    else:  # pairs
        rank = {x: i for i, x in enumerate(q.answer)}
        pairs = [(a, b) for i, a in enumerate(order) for b in order[i + 1:]]
        good = sum(1 for a, b in pairs if rank[a] < rank[b])
        credit = good / len(pairs)
        detail = f" {good} of {len(pairs)} pairs of items are in the right order."
    verdict = "Right." if credit == 1.0 else "Not quite."
    return Outcome(credit, f"Your order: {' '.join(order)}. {verdict}{detail if credit < 1 else ''}")


def score_matching(q: Matching, given: dict[int, str]) -> Outcome:
    wrong = [i for i, p in enumerate(q.pairs, start=1) if given.get(i) != p.answer]
    n = len(q.pairs)
    if q.scoring == "all_or_nothing":
        credit = 0.0 if wrong else 1.0
    else:
        credit = (n - len(wrong)) / n
    if not wrong:
        return Outcome(credit, "Every item is matched right.")
    names = ", ".join(f"{i} ({q.pairs[i - 1].prompt})" for i in wrong)
    return Outcome(credit, f"{n - len(wrong)} of {n} matched right. Not right: {names}.")


def score(q: Question, answer: Any) -> Outcome:
    """Judge a parsed, non-empty answer."""
    if isinstance(q, SingleChoice):
        return score_single(q, answer)
    if isinstance(q, MultipleSelect):
        return score_multiple(q, answer)
    if isinstance(q, TrueFalse):
        return score_true_false(q, answer)
    if isinstance(q, ShortAnswer):
        return score_short_answer(q, answer)
    if isinstance(q, Numeric):
        return score_numeric(q, answer)
    if isinstance(q, Ordering):
        return score_ordering(q, answer)
    if isinstance(q, Matching):
        return score_matching(q, answer)
    if isinstance(q, FreeResponse):
        return Outcome(0.0, "Waits for a person to grade it.", "manual")
    raise TypeError(f"no scorer for {type(q).__name__}")


def evaluate(q: Question, raw: Any) -> Outcome:
    """Parse and score one raw response; never raises for a bad response."""
    try:
        answer = parse_answer(q, raw)
    except AnswerError as exc:
        return Outcome(0.0, str(exc), "invalid")
    except (ValueError, TypeError, OverflowError, RecursionError) as exc:  # what no check above foresaw
        return Outcome(0.0, f"This answer cannot be read ({type(exc).__name__}).", "invalid")
    if answer is None:
        return Outcome(0.0, "No answer given.", "missing")
    return score(q, answer)
