"""Moodle's import rules for Moodle XML, as the tests apply them to every exported question.

Read in moodle/moodle, with the rule each gives:

- ``question/format/xml/format.php``: ``import_headers`` (name, question text, general feedback,
  ``defaultgrade``); ``import_answer``: an answer's fraction is its ``fraction`` attribute / 100;
  ``import_multichoice``: ``single`` defaults to ``true`` and is false only for ``false`` or empty
  (``trans_single``); ``import_truefalse``: the answer whose text is ``true`` is right when its
  fraction is 100, the ``false`` one when its fraction is not; ``import_shortanswer``,
  ``import_numerical`` (``tolerance``), ``import_match`` (each ``subquestion``'s text and its
  ``answer/text``), ``import_essay`` (``graderinfo``).
- ``question/type/ordering/questiontype.php`` ``import_from_xml``: the answers in file order are
  the right order, each with fraction 1 whatever the file says; ``set_options_for_import``:
  ``selecttype`` ALL shows every item (anything else: a random subset of ``selectcount``, default
  6), ``gradingtype`` names the scoring (unknown: RELATIVE_NEXT_EXCLUDE_LAST).
- ``question/format.php`` ``importprocess``: every question whose fractions are not all in
  ``question_bank::fraction_options_full()`` (``question/engine/bank.php``, matched within
  0.00001 by ``match_grade_options`` in ``lib/questionlib.php``) is refused ("invalidgrade").
- ``question/type/multichoice/questiontype.php`` ``save_question_options``: a single-answer
  question needs a best fraction of exactly 1 ("fractionsnomax"); a multiple-answer one needs its
  positive fractions to add up to 1 when rounded to 2 places ("fractionsaddwrong").
- ``question/type/match/edit_match_form.php`` ``validation``: at least 2 subquestions and 3
  answers; ``question/type/shortanswer/edit_shortanswer_form.php``: one answer at 100 %.
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

# question_bank::fraction_options_full(): 0, 1 and these, and their negatives
RAW_FRACTIONS = (0.9, 0.8333333, 0.8, 0.75, 0.7, 0.6666667, 0.6, 0.5, 0.4, 0.3333333, 0.3, 0.25, 0.2,
                 0.1666667, 0.1428571, 0.125, 0.1111111, 0.1, 0.05)
FRACTION_OPTIONS_FULL = (0.0, 1.0, *RAW_FRACTIONS, *(-f for f in RAW_FRACTIONS), -1.0)
ORDERING_GRADING = {"ALL_OR_NOTHING", "ABSOLUTE_POSITION", "RELATIVE_NEXT_EXCLUDE_LAST",
                    "RELATIVE_NEXT_INCLUDE_LAST", "RELATIVE_ONE_PREVIOUS_AND_NEXT",
                    "RELATIVE_ALL_PREVIOUS_AND_NEXT", "LONGEST_ORDERED_SUBSET", "LONGEST_CONTIGUOUS_SUBSET",
                    "RELATIVE_TO_CORRECT"}


class Refused(Exception):
    """Moodle would not import this question; the message is Moodle's reason."""


def match_grade_options(fraction: float) -> float | None:
    return next((value for value in FRACTION_OPTIONS_FULL if abs(fraction - value) < 0.00001), None)


@dataclass
class Imported:
    qtype: str
    name: str
    questiontext: str
    generalfeedback: str
    defaultmark: float
    answers: list[tuple[str, float]] = field(default_factory=list)  # (text, fraction)
    single: bool | None = None
    correctanswer: bool | None = None
    tolerance: float | None = None
    subquestions: list[tuple[str, str]] = field(default_factory=list)
    graderinfo: str = ""
    selecttype: str = ""
    gradingtype: str = ""


def _text(element: ET.Element | None) -> str:
    return (element.findtext("text") or "").strip() if element is not None else ""


def _headers(question: ET.Element, qtype: str) -> Imported:
    name = question.findtext("name/text")
    if not name:
        raise Refused("xmlimportnoname")
    return Imported(qtype=qtype, name=name.strip(), questiontext=_text(question.find("questiontext")),
                    generalfeedback=_text(question.find("generalfeedback")),
                    defaultmark=float(question.findtext("defaultgrade") or 1))


def _fraction(answer: ET.Element) -> float:
    return float(answer.get("fraction", 0)) / 100


def import_question(question: ET.Element) -> Imported:
    """One <question>, as Moodle reads, checks and saves it; raises Refused where Moodle would."""
    kind = question.get("type")
    if kind == "multichoice":
        q = _headers(question, kind)
        single = (question.findtext("single") if question.find("single") is not None else "true") or ""
        q.single = not (single.strip() == "false" or not single.strip())
        q.answers = [(_text(a), _fraction(a)) for a in question.findall("answer")]
    elif kind == "truefalse":
        q = _headers(question, kind)
        for answer in question.findall("answer"):
            text = _text(answer)
            if text not in ("true", "false"):
                raise Refused("truefalseimporterror")
            q.correctanswer = (float(answer.get("fraction", 0)) == 100) == (text == "true")
    elif kind in ("shortanswer", "numerical"):
        q = _headers(question, kind)
        q.answers = [(_text(a), _fraction(a)) for a in question.findall("answer")]
        if kind == "numerical":
            q.tolerance = float(question.findtext("answer/tolerance") or 0)
        if not any(abs(f - 1) < 1e-9 for _, f in q.answers):
            raise Refused("fractionsnomax")
    elif kind == "matching":
        q = _headers(question, "match")
        q.subquestions = [(_text(s), (s.findtext("answer/text") or "").strip()) for s in question.findall("subquestion")]
        if sum(1 for left, _ in q.subquestions if left) < 2 or sum(1 for _, right in q.subquestions if right) < 3:
            raise Refused("notenoughqsandas")
    elif kind == "ordering":
        q = _headers(question, kind)
        q.answers = [(_text(a), 1.0) for a in question.findall("answer")]
        q.selecttype = (question.findtext("selecttype") or "RANDOM").upper()
        q.gradingtype = (question.findtext("gradingtype") or "RELATIVE").upper()
        if len(q.answers) < 2:
            raise Refused("notenoughanswers")
    elif kind == "essay":
        q = _headers(question, kind)
        q.graderinfo = _text(question.find("graderinfo"))
    else:
        raise Refused(f"unknown question type {kind!r}")
    for _, fraction in q.answers:
        if match_grade_options(fraction) is None:
            raise Refused(f"invalidgrade: {fraction:g}")
    if kind == "multichoice":
        if q.single and max(f for _, f in q.answers) != 1:
            raise Refused("fractionsnomax")
        if not q.single and round(sum(f for _, f in q.answers if f > 0), 2) != 1:
            raise Refused("fractionsaddwrong")
    return q


def import_file(root: ET.Element) -> list[Imported]:
    """Every question of a Moodle XML file (categories are not questions)."""
    assert root.tag == "quiz", root.tag
    return [import_question(q) for q in root.findall("question") if q.get("type") != "category"]


def grade_ordering(gradingtype: str, correct: list[str], response: list[str]) -> float:
    """qtype_ordering_question::grade_response for the grading types the export uses."""
    if gradingtype in ("ALL_OR_NOTHING", "ABSOLUTE_POSITION"):
        right = sum(1 for a, b in zip(correct, response) if a == b)
        if gradingtype == "ALL_OR_NOTHING" and right < len(correct):
            right = 0
        return right / len(correct)
    if gradingtype == "RELATIVE_ALL_PREVIOUS_AND_NEXT":
        def around(order: list[str]) -> dict[str, tuple[set[str], set[str]]]:
            return {x: (set(order[:i]), set(order[i + 1:])) for i, x in enumerate(order)}
        mine, key = around(response), around(correct)
        right = sum(len(mine[x][0] & prev) + len(mine[x][1] & nxt) for x, (prev, nxt) in key.items())
        total = sum(len(prev) + len(nxt) for prev, nxt in key.values())
        return right / total
    raise NotImplementedError(gradingtype)
