"""A quiz as Moodle XML (Question bank > Import > Moodle XML format).

Moodle accepts only its own list of answer fractions (100, 50, 33.33333, 25, ...), so partial
credit is expressed with those; where a scheme cannot be expressed exactly, a warning says so.
Ordering questions use Moodle's ``ordering`` type (core since Moodle 4.4, a plugin before), whose
grading types score all three of our schemes exactly; ``ordering="matching"`` exports them as
matching questions (position -> item) for sites without it.
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from html import escape

from grader.quiz.exporters import to_html
from grader.quiz.schema import (
    FreeResponse, Matching, MultipleSelect, Numeric, Ordering, Question, Quiz, ShortAnswer, SingleChoice, TrueFalse,
)

# question_bank::fraction_options_full(), as percentages
MOODLE_FRACTIONS: tuple[float, ...] = (
    100.0, 90.0, 83.33333, 80.0, 75.0, 70.0, 66.66667, 60.0, 50.0, 40.0, 33.33333, 30.0, 25.0, 20.0,
    16.66667, 14.28571, 12.5, 11.11111, 10.0, 5.0, 0.0,
)


ORDERING_MODES = ("ordering", "matching")
# qtype_ordering's grading types (question/type/ordering/questiontype.php, set_options_for_import)
ORDERING_GRADING: dict[str, str] = {
    "all_or_nothing": "ALL_OR_NOTHING",
    "per_position": "ABSOLUTE_POSITION",
    "pairs": "RELATIVE_ALL_PREVIOUS_AND_NEXT",
}


def moodle_fraction(percent: float) -> float:
    """The nearest fraction Moodle accepts (sign kept)."""
    nearest = min(MOODLE_FRACTIONS, key=lambda f: abs(f - abs(percent)))
    return nearest if percent >= 0 else -nearest


def _fmt(value: float) -> str:
    return f"{value:.7g}"


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, tag, attrs)
    if text is not None:
        element.text = text
    return element


def _text(parent: ET.Element, tag: str, content: str, html: bool = True) -> ET.Element:
    element = _sub(parent, tag, format="html") if html else _sub(parent, tag)
    _sub(element, "text", to_html(content) if html else content)
    return element


def _answer(parent: ET.Element, fraction: float, text: str, feedback: str | None = None,
            fmt: str = "html") -> ET.Element:
    answer = _sub(parent, "answer", fraction=_fmt(fraction), format=fmt)
    _sub(answer, "text", text)
    if feedback is not None:
        _text(answer, "feedback", feedback)
    return answer


def _multiple_fractions(q: MultipleSelect, where: str, warnings: list[str]) -> dict[str, float]:
    right = [k for k, c in q.choices.items() if c.correct]
    share = moodle_fraction(100 / len(right))
    if abs(share * len(right) - 100) > 0.01:
        warnings.append(f"{where}: Moodle has no fraction for 1/{len(right)}; each right choice gives {share:g}%")
    if q.scoring == "all_or_nothing":
        warnings.append(f"{where}: Moodle cannot score all-or-nothing; right picks earn a share and any "
                        "wrong pick cancels the credit")
        wrong = -100.0
    elif q.scoring == "each_answer":
        warnings.append(f"{where}: Moodle cannot score each-answer; exported as right minus wrong picks")
        wrong = -share
    else:
        wrong = -share
    return {k: (share if c.correct else wrong) for k, c in q.choices.items()}


def _ordering(question: ET.Element, q: Ordering) -> None:
    """qtype_ordering's import: every item shown, the answers in their right order."""
    _sub(question, "layouttype", "VERTICAL")
    _sub(question, "selecttype", "ALL")
    _sub(question, "selectcount", str(len(q.items)))
    _sub(question, "gradingtype", ORDERING_GRADING[q.scoring])
    _sub(question, "showgrading", "SHOW")
    _sub(question, "numberingstyle", "none")
    for tag in ("correctfeedback", "partiallycorrectfeedback", "incorrectfeedback"):
        _text(question, tag, "")
    _sub(question, "shownumcorrect")
    for position, key in enumerate(q.answer, start=1):
        answer = _sub(question, "answer", fraction=str(position), format="html")
        _sub(answer, "text", escape(q.items[key], quote=False))


def moodle_question(quiz: Quiz, q: Question, warnings: list[str], ordering: str = "ordering") -> ET.Element:
    """One Moodle question; ``warnings`` gets what Moodle cannot express or needs."""
    where = f"{quiz.id}/{q.id}"
    kind = {"single": "multichoice", "multiple": "multichoice", "true_false": "truefalse",
            "short_answer": "shortanswer", "numeric": "numerical", "ordering": ordering,
            "matching": "matching", "free_response": "essay"}[q.type]
    question = ET.Element("question", type=kind)
    name = _sub(question, "name")
    _sub(name, "text", f"{q.id}: {q.title}")
    _text(question, "questiontext", q.prompt)
    _text(question, "generalfeedback", q.explanation)
    _sub(question, "defaultgrade", _fmt(q.points))
    _sub(question, "penalty", "0")
    _sub(question, "hidden", "0")
    _sub(question, "idnumber", f"{quiz.id}-{q.id}")
    if isinstance(q, (SingleChoice, MultipleSelect)):
        single = isinstance(q, SingleChoice)
        _sub(question, "single", "true" if single else "false")
        _sub(question, "shuffleanswers", "false")
        _sub(question, "answernumbering", "ABCD")
        fractions = ({k: (100.0 if c.correct else 0.0) for k, c in q.choices.items()} if single
                     else _multiple_fractions(q, where, warnings))
        for k, c in q.choices.items():
            _answer(question, fractions[k], c.text, c.feedback, fmt="plain_text")
    elif isinstance(q, TrueFalse):
        _answer(question, 100.0 if q.answer else 0.0, "true", q.feedback_true, fmt="moodle_auto_format")
        _answer(question, 0.0 if q.answer else 100.0, "false", q.feedback_false, fmt="moodle_auto_format")
    elif isinstance(q, ShortAnswer):
        shown = q.display or q.answers
        if q.match == "regex":
            warnings.append(f"{where}: Moodle short answers have no regex; exported the display answers "
                            f"{', '.join(shown)}")
        _sub(question, "usecase", "1" if q.match == "exact" else "0")
        for answer in shown:
            _answer(question, 100.0, answer.replace("*", r"\*"), fmt="moodle_auto_format")
    elif isinstance(q, Numeric):
        answer = _answer(question, 100.0, _fmt(q.answer), fmt="moodle_auto_format")
        _sub(answer, "tolerance", _fmt(q.tolerance))
    elif isinstance(q, Ordering) and ordering == "ordering":
        warnings.append(f"{where}: a Moodle ordering question: core from Moodle 4.4 (older sites need the "
                        "qtype_ordering plugin, or export with --moodle-ordering matching)")
        _ordering(question, q)
    elif isinstance(q, (Ordering, Matching)):
        if isinstance(q, Ordering):
            warnings.append(f"{where}: exported as a Moodle matching question (position -> item)"
                            + ("" if q.scoring == "per_position" else f", scored per position, not {q.scoring}"))
            lefts = [f"Position {i}" for i in range(1, len(q.answer) + 1)]
            rights = [q.items[k] for k in q.answer]
            extra: list[str] = []
        else:
            if q.scoring != "each_answer":
                warnings.append(f"{where}: Moodle gives matching questions credit per pair, not {q.scoring}")
            lefts = [p.prompt for p in q.pairs]
            rights = [q.options[p.answer] for p in q.pairs]
            extra = [text for key, text in q.options.items() if key not in {p.answer for p in q.pairs}]
        _sub(question, "shuffleanswers", "true")
        for left, right in zip(lefts, rights):
            sub = _text(question, "subquestion", left)
            answer = _sub(sub, "answer")
            _sub(answer, "text", right)
        for distractor in extra:
            sub = _text(question, "subquestion", "")
            answer = _sub(sub, "answer")
            _sub(answer, "text", distractor)
    elif isinstance(q, FreeResponse):
        _sub(question, "responseformat", "editor")
        _sub(question, "responserequired", "1")
        _sub(question, "responsefieldlines", "10")
        _sub(question, "attachments", "0")
        _sub(question, "attachmentsrequired", "0")
        rubric = "\n".join(f"- ({r.points:g} pt) {r.criterion}" for r in q.rubric)
        _text(question, "graderinfo", f"**Rubric**\n\n{rubric}\n\n**Model answer**\n\n{q.model_answer}")
        _text(question, "responsetemplate", "", html=False)
    return question


def moodle_xml(quiz: Quiz, warnings: list[str], ordering: str = "ordering") -> ET.Element:
    if ordering not in ORDERING_MODES:
        raise ValueError(f"ordering must be one of {', '.join(ORDERING_MODES)}, not {ordering!r}")
    root = ET.Element("quiz")
    category = _sub(root, "question", type="category")
    _sub(_sub(category, "category"), "text", f"$course$/top/Broker Lab/{quiz.title}")
    for q in quiz.questions:
        root.append(moodle_question(quiz, q, warnings, ordering))
    return root


def export_moodle(quiz: Quiz, out: Path, ordering: str = "ordering") -> list[str]:
    """Write the Moodle XML file; returns the warnings. ``ordering="matching"`` is for Moodle < 4.4."""
    warnings: list[str] = []
    root = moodle_xml(quiz, warnings, ordering)
    ET.indent(root)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(ET.tostring(root, encoding="UTF-8", xml_declaration=True))
    return warnings
