"""Every export parses back and holds every question with its right answers."""
from __future__ import annotations

import html
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import pytest

from grader.quiz.exporters import to_html
from grader.quiz.exporters.moodle import MOODLE_FRACTIONS, export_moodle, moodle_fraction
from grader.quiz.exporters.qti import CANVAS_TYPES, export_qti
from grader.quiz.loader import load_bank
from grader.quiz.schema import Quiz

QUIZ_IDS = sorted(load_bank())


def local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def children(element: ET.Element, name: str) -> list[ET.Element]:
    return [e for e in element.iter() if local(e.tag) == name]


def child(element: ET.Element, name: str) -> ET.Element:
    found = children(element, name)
    assert found, f"no <{name}> in <{local(element.tag)}>"
    return found[0]


# ---------------------------------------------------------------- Canvas QTI 1.2

def read_qti(path: Path) -> tuple[ET.Element, ET.Element]:
    with zipfile.ZipFile(path) as archive:
        manifest = ET.fromstring(archive.read("imsmanifest.xml"))
        resource = child(manifest, "resource")
        assert resource.get("type") == "imsqti_xmlv1p2"
        href = child(resource, "file").get("href")
        assert href in archive.namelist()
        return manifest, ET.fromstring(archive.read(href))


def qti_metadata(item: ET.Element) -> dict[str, str]:
    return {child(f, "fieldlabel").text: child(f, "fieldentry").text or "" for f in children(item, "qtimetadatafield")}


def label_texts(lid: ET.Element) -> dict[str, str]:
    return {label.get("ident"): child(label, "mattext").text for label in children(lid, "response_label")}


def scoring_conditions(item: ET.Element) -> list[ET.Element]:
    return [c for c in children(item, "respcondition") if children(c, "setvar")]


def qti_right_answers(item: ET.Element, kind: str) -> object:
    """What the exported item marks as right, read the way an importer would."""
    presentation = child(item, "presentation")
    if kind in ("multiple_choice_question", "true_false_question", "multiple_answers_question"):
        labels = label_texts(child(presentation, "response_lid"))
        (condition,) = scoring_conditions(item)
        assert child(condition, "setvar").text == "100"
        var = child(condition, "conditionvar")
        negated = {id(v) for n in children(var, "not") for v in children(n, "varequal")}
        return sorted(labels[v.text] for v in children(var, "varequal") if id(v) not in negated)
    if kind == "short_answer_question":
        (condition,) = scoring_conditions(item)
        return sorted(v.text for v in children(condition, "varequal"))
    if kind == "numerical_question":
        (condition,) = scoring_conditions(item)
        return (float(child(condition, "vargte").text), float(child(condition, "varlte").text))
    if kind == "matching_question":
        lids = children(presentation, "response_lid")
        pairs = {}
        for condition in scoring_conditions(item):
            var = child(condition, "varequal")
            lid = next(l for l in lids if l.get("ident") == var.get("respident"))
            pairs[child(lid, "mattext").text] = label_texts(lid)[var.text]
            assert child(condition, "setvar").get("action") == "Add"
        total = sum(float(child(c, "setvar").text) for c in scoring_conditions(item))
        assert total == pytest.approx(100, abs=0.1)
        return pairs
    if kind == "essay_question":
        assert child(presentation, "response_str") is not None
        return None
    raise AssertionError(f"unexpected question type {kind}")


def expected_qti(q) -> object:
    if q.type in ("single", "multiple"):
        return sorted(c.text for c in q.choices.values() if c.correct)
    if q.type == "true_false":
        return ["True" if q.answer else "False"]
    if q.type == "short_answer":
        return sorted(q.display or q.answers)
    if q.type == "numeric":
        return (q.answer - q.tolerance, q.answer + q.tolerance)
    if q.type == "ordering":
        return {f"Position {i}": q.items[k] for i, k in enumerate(q.answer, start=1)}
    if q.type == "matching":
        return {p.prompt: q.options[p.answer] for p in q.pairs}
    return None


@pytest.mark.parametrize("quiz_id", QUIZ_IDS)
def test_qti_export_holds_every_question_with_its_right_answers(tmp_path, quiz_id):
    quiz: Quiz = load_bank()[quiz_id]
    out = tmp_path / f"{quiz_id}.zip"
    export_qti(quiz, out)
    _, assessment = read_qti(out)
    assert local(assessment.tag) == "questestinterop"
    assert child(assessment, "assessment").get("title") == quiz.title
    items = children(assessment, "item")
    assert len(items) == len(quiz.questions)
    for q, item in zip(quiz.questions, items):
        meta = qti_metadata(item)
        assert meta["question_type"] == CANVAS_TYPES[q.type], q.id
        assert float(meta["points_possible"]) == q.points
        assert item.get("title").startswith(f"{q.id}:")
        assert child(child(item, "presentation"), "mattext").text == to_html(q.prompt)
        assert qti_right_answers(item, meta["question_type"]) == expected_qti(q), q.id
        feedback = {f.get("ident"): child(f, "mattext").text for f in children(item, "itemfeedback")}
        assert feedback["general_fb"].startswith(to_html(q.explanation)[:40])
        for choice in getattr(q, "choices", {}).values():
            assert to_html(choice.feedback) in feedback.values()


def test_qti_uses_every_canvas_type_the_issue_names(tmp_path):
    used = set()
    for quiz in load_bank().values():
        out = tmp_path / f"{quiz.id}.zip"
        export_qti(quiz, out)
        used |= {qti_metadata(item)["question_type"] for item in children(read_qti(out)[1], "item")}
    assert used == {"multiple_choice_question", "multiple_answers_question", "true_false_question",
                    "short_answer_question", "numerical_question", "matching_question", "essay_question"}


def test_qti_warns_about_ordering(tmp_path):
    warnings = export_qti(load_bank()["concepts"], tmp_path / "c.zip")
    assert any("concepts/q1" in w and "ordering" in w and "matching" in w for w in warnings)


def test_qti_export_is_reproducible(tmp_path):
    quiz = load_bank()["discussion"]
    export_qti(quiz, tmp_path / "a.zip")
    export_qti(quiz, tmp_path / "b.zip")
    assert (tmp_path / "a.zip").read_bytes() == (tmp_path / "b.zip").read_bytes()


# ---------------------------------------------------------------- Moodle XML

def moodle_right_answers(question: ET.Element) -> object:
    kind = question.get("type")
    answers = [(float(a.get("fraction")), child(a, "text").text) for a in question.findall("answer")]
    if kind in ("multichoice", "truefalse", "shortanswer"):
        for fraction, _ in answers:
            assert fraction in MOODLE_FRACTIONS or -fraction in MOODLE_FRACTIONS, fraction
        positive = [f for f, _ in answers if f > 0]
        if kind == "multichoice" and question.findtext("single") == "false":
            assert sum(positive) == pytest.approx(100, abs=0.01)
        return sorted(text for f, text in answers if f > 0)
    if kind == "numerical":
        (answer,) = question.findall("answer")
        value, tolerance = float(child(answer, "text").text), float(answer.findtext("tolerance"))
        return (value - tolerance, value + tolerance)
    if kind == "matching":
        pairs = {}
        for sub in question.findall("subquestion"):
            left = sub.find("text").text
            if left:
                pairs[left] = sub.find("answer/text").text
        return pairs
    if kind == "essay":
        assert question.find("graderinfo/text").text
        return None
    raise AssertionError(kind)


def expected_moodle(q) -> object:
    if q.type == "true_false":
        return ["true" if q.answer else "false"]
    if q.type in ("ordering", "matching"):
        pairs = expected_qti(q)
        return {to_html(left): right for left, right in pairs.items()}
    return expected_qti(q)


@pytest.mark.parametrize("quiz_id", QUIZ_IDS)
def test_moodle_export_holds_every_question_with_its_right_answers(tmp_path, quiz_id):
    quiz: Quiz = load_bank()[quiz_id]
    out = tmp_path / f"{quiz_id}.xml"
    export_moodle(quiz, out)
    root = ET.parse(out).getroot()
    assert root.tag == "quiz"
    questions = [q for q in root.findall("question") if q.get("type") != "category"]
    assert len(questions) == len(quiz.questions)
    kinds = {"single": "multichoice", "multiple": "multichoice", "true_false": "truefalse",
             "short_answer": "shortanswer", "numeric": "numerical", "ordering": "matching",
             "matching": "matching", "free_response": "essay"}
    for q, element in zip(quiz.questions, questions):
        assert element.get("type") == kinds[q.type]
        assert element.findtext("name/text").startswith(f"{q.id}:")
        assert float(element.findtext("defaultgrade")) == q.points
        assert element.findtext("questiontext/text") == to_html(q.prompt)
        assert element.findtext("generalfeedback/text") == to_html(q.explanation)
        assert moodle_right_answers(element) == expected_moodle(q), q.id
        if q.type == "single":
            assert element.findtext("single") == "true"
        if q.type == "free_response":
            grader_info = html.unescape(element.findtext("graderinfo/text"))
            assert all(r.criterion in grader_info for r in q.rubric)
            assert html.unescape(to_html(q.model_answer)) in grader_info


def test_moodle_matching_keeps_the_distractors(tmp_path):
    quiz = load_bank()["concepts"]
    q = next(q for q in quiz.questions if q.type == "matching")
    path = tmp_path / "c.xml"
    export_moodle(quiz, path)
    element = next(e for e in ET.parse(path).getroot().findall("question")
                   if (e.findtext("name/text") or "").startswith(f"{q.id}:"))
    rights = [s.find("answer/text").text for s in element.findall("subquestion")]
    assert sorted(rights) == sorted(q.options.values())


@pytest.mark.parametrize("percent, fraction", [(50, 50), (100 / 3, 33.33333), (25, 25), (100 / 6, 16.66667),
                                               (100 / 7, 14.28571), (-100 / 3, -33.33333), (100 / 12, 10)])
def test_moodle_fractions_are_the_ones_moodle_accepts(percent, fraction):
    assert moodle_fraction(percent) == fraction


def test_moodle_warns_where_it_cannot_score_like_us(tmp_path):
    warnings = export_moodle(load_bank()["concepts"], tmp_path / "c.xml")
    q10 = next(q for q in load_bank()["concepts"].questions if q.id == "q10")
    assert q10.scoring == "all_or_nothing"
    assert any(w.startswith("concepts/q10:") and "all-or-nothing" in w for w in warnings)
    assert any(w.startswith("concepts/q1:") and "matching" in w for w in warnings)
