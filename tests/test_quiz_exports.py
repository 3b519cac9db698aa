"""Every export parses back and holds every question with its right answers, and the real
importers' rules (Canvas's, modelled in tests/canvas_import.py; Moodle's, in tests/moodle_import.py)
accept it and keep its meaning."""
from __future__ import annotations

import html
import itertools
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import pytest

import canvas_import
import moodle_import
from grader.quiz.exporters import to_html
from grader.quiz.exporters.moodle import MOODLE_FRACTIONS, export_moodle, moodle_fraction, moodle_question
from grader.quiz.exporters.qti import CANVAS_TYPES, export_qti
from grader.quiz.loader import load_bank
from grader.quiz.schema import Quiz
from grader.quiz.scoring import evaluate

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
        if q.type == "free_response":
            assert "general_fb" not in feedback
        else:
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


def canvas_key(q) -> object:
    """The YAML's answer key, as Canvas holds it once imported."""
    if q.type == "numeric":
        return [(q.answer - q.tolerance, q.answer + q.tolerance)]
    return expected_qti(q)


def canvas_imported_key(question: canvas_import.Imported) -> object:
    kind = question.question_type
    if kind in ("multiple_choice_question", "multiple_answers_question", "true_false_question"):
        return question.right_answers()
    if kind == "short_answer_question":
        return sorted(a["text"] for a in question.answers)
    if kind == "numerical_question":
        return [(a["start"], a["end"]) for a in question.answers]
    if kind == "matching_question":
        return question.pairs()
    assert kind == "essay_question", kind
    assert not question.answers
    return None


@pytest.mark.parametrize("quiz_id", QUIZ_IDS)
def test_canvas_imports_every_question_with_the_yaml_key(tmp_path, quiz_id):
    """Canvas's own rules (ident -> id, question_type, points, weights, matches) give back the key."""
    quiz: Quiz = load_bank()[quiz_id]
    out = tmp_path / f"{quiz_id}.zip"
    export_qti(quiz, out)
    imported = canvas_import.import_package(out)
    assert imported.title == quiz.title
    assert len(imported.questions) == len(quiz.questions)
    for q, question in zip(quiz.questions, imported.questions):
        assert question.question_type == CANVAS_TYPES[q.type], q.id
        assert question.points_possible == q.points, q.id
        assert question.random_ids == 0, f"{q.id}: Canvas would draw ids at random"
        assert canvas_imported_key(question) == canvas_key(q), q.id


@pytest.mark.parametrize("quiz_id", QUIZ_IDS)
def test_canvas_ids_are_numbers_unique_in_the_quiz(tmp_path, quiz_id):
    out = tmp_path / f"{quiz_id}.zip"
    export_qti(load_bank()[quiz_id], out)
    imported = canvas_import.import_package(out)
    answer_ids = [a["id"] for q in imported.questions for a in q.answers if "id" in a]
    match_ids = [m["match_id"] for q in imported.questions for m in q.matches]
    assert len(set(answer_ids + match_ids)) == len(answer_ids) + len(match_ids)
    assert len({q.migration_id for q in imported.questions}) == len(imported.questions)


@pytest.mark.parametrize("quiz_id", QUIZ_IDS)
def test_canvas_reads_the_quiz_settings_as_a_graded_quiz(tmp_path, quiz_id):
    quiz = load_bank()[quiz_id]
    out = tmp_path / f"{quiz_id}.zip"
    export_qti(quiz, out)
    settings = canvas_import.import_package(out).settings
    assert settings["quiz_type"] == "assignment"
    assert float(settings["points_possible"]) == sum(q.points for q in quiz.questions)
    assert settings["title"] == quiz.title
    assert int(settings["allowed_attempts"]) == 1
    assert settings["shuffle_answers"] in ("true", "false") and settings["show_correct_answers"] == "false"
    if quiz.instructions:
        assert html.unescape(settings["description"]) == html.unescape(to_html(quiz.instructions))


@pytest.mark.parametrize("quiz_id", QUIZ_IDS)
def test_canvas_shows_students_no_model_answer_rubric_or_free_response_explanation(tmp_path, quiz_id):
    quiz = load_bank()[quiz_id]
    out = tmp_path / f"{quiz_id}.zip"
    export_qti(quiz, out)
    imported = canvas_import.import_package(out)
    _, assessment = read_qti(out)
    raw_feedback = [html.unescape(child(f, "mattext").text or "") for f in children(assessment, "itemfeedback")]
    for q, question in zip(quiz.questions, imported.questions):
        if q.type != "free_response":
            continue
        secrets = [q.model_answer, q.explanation, *(r.criterion for r in q.rubric)]
        shown = [html.unescape(text) for text in question.student_visible()] + raw_feedback
        for secret in secrets:
            words = " ".join(secret.split())[:60]
            assert not any(words in " ".join(text.split()) for text in shown), f"{q.id}: {words!r} is shown"


def test_canvas_rule_gives_letter_idents_one_match_id():
    """Why the idents are numbers: with letters after a question number, every option of a
    matching question gets that number as its match id, and every left side the first option."""
    assert {canvas_import.match_id_of(canvas_import.qti2_identifier(f"concepts_q2_{k}")) for k in "ABCDE"} == {2}
    assert canvas_import.match_id_of(canvas_import.qti2_identifier("251")) == 251
    assert canvas_import.qti2_identifier("251") == "RESPONSE_251"
    assert canvas_import.answer_id_of("concepts_q2_1") is None and canvas_import.answer_id_of("201") == 201


def test_canvas_model_catches_shared_match_ids(tmp_path):
    quiz = load_bank()["concepts"]
    q = next(q for q in quiz.questions if q.type == "matching")
    out = tmp_path / "c.zip"
    export_qti(quiz, out)
    with zipfile.ZipFile(out) as archive:
        files = {name: archive.read(name) for name in archive.namelist()}
    name = next(n for n in files if n.endswith("brokerlab_concepts.xml"))
    text = files[name].decode()
    position = quiz.questions.index(q) + 1
    for j, letter in enumerate(q.options, start=1):
        number = str(position * 100 + 50 + j)
        text = text.replace(f'ident="{number}"', f'ident="concepts_q{position}_{letter}"')
        text = text.replace(f">{number}</varequal>", f">concepts_q{position}_{letter}</varequal>")
    files[name] = text.encode()
    broken = tmp_path / "broken.zip"
    with zipfile.ZipFile(broken, "w") as archive:
        for n, data in files.items():
            archive.writestr(n, data)
    question = canvas_import.import_package(broken).questions[position - 1]
    first = next(iter(q.options.values()))
    assert set(question.pairs().values()) == {first}
    assert question.pairs() != canvas_key(q)


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
    if kind == "ordering":
        return [html.unescape(a.findtext("text")) for a in question.findall("answer")]
    if kind == "essay":
        assert question.find("graderinfo/text").text
        return None
    raise AssertionError(kind)


def expected_moodle(q) -> object:
    if q.type == "true_false":
        return ["true" if q.answer else "false"]
    if q.type == "ordering":
        return [q.items[k] for k in q.answer]
    if q.type == "matching":
        return {to_html(left): right for left, right in expected_qti(q).items()}
    return expected_qti(q)


MOODLE_KINDS = {"single": "multichoice", "multiple": "multichoice", "true_false": "truefalse",
                "short_answer": "shortanswer", "numeric": "numerical", "ordering": "ordering",
                "matching": "matching", "free_response": "essay"}


@pytest.mark.parametrize("quiz_id", QUIZ_IDS)
def test_moodle_export_holds_every_question_with_its_right_answers(tmp_path, quiz_id):
    quiz: Quiz = load_bank()[quiz_id]
    out = tmp_path / f"{quiz_id}.xml"
    export_moodle(quiz, out)
    root = ET.parse(out).getroot()
    assert root.tag == "quiz"
    questions = [q for q in root.findall("question") if q.get("type") != "category"]
    assert len(questions) == len(quiz.questions)
    for q, element in zip(quiz.questions, questions):
        assert element.get("type") == MOODLE_KINDS[q.type]
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
    assert any(w.startswith("concepts/q1:") and "4.4" in w for w in warnings)
    fallback = export_moodle(load_bank()["concepts"], tmp_path / "m.xml", ordering="matching")
    assert any(w.startswith("concepts/q1:") and "matching" in w for w in fallback)


def imported_key(q, imported: moodle_import.Imported) -> object:
    """The key of one question as Moodle holds it after the import, in the YAML's terms."""
    if imported.qtype == "multichoice":
        assert imported.single == (q.type == "single")
        return sorted(text for text, f in imported.answers if f > 0)
    if imported.qtype == "truefalse":
        return imported.correctanswer
    if imported.qtype == "shortanswer":
        return sorted(text.replace(r"\*", "*") for text, f in imported.answers if f == 1)
    if imported.qtype == "numerical":
        ((value, _),) = imported.answers
        return (float(value) - imported.tolerance, float(value) + imported.tolerance)
    if imported.qtype == "match":
        return {html.unescape(left): right for left, right in imported.subquestions if left}
    if imported.qtype == "ordering":
        assert imported.selecttype == "ALL", "Moodle would show a random subset of the items"
        return [html.unescape(text) for text, _ in imported.answers]
    assert imported.qtype == "essay"
    return None


def yaml_key(q, ordering: str) -> object:
    if q.type in ("single", "multiple"):
        return sorted(c.text for c in q.choices.values() if c.correct)
    if q.type == "true_false":
        return q.answer
    if q.type == "ordering" and ordering == "ordering":
        return [q.items[k] for k in q.answer]
    if q.type in ("ordering", "matching"):
        return {html.unescape(to_html(left)): right for left, right in expected_qti(q).items()}
    return expected_qti(q)


@pytest.mark.parametrize("ordering", ["ordering", "matching"])
@pytest.mark.parametrize("quiz_id", QUIZ_IDS)
def test_moodle_imports_every_question_under_its_own_rules(tmp_path, quiz_id, ordering):
    """Moodle's rules (allowed fractions, single vs multiple, sums, ordering options) accept every
    question, and what Moodle then holds as right is the YAML's key."""
    quiz: Quiz = load_bank()[quiz_id]
    out = tmp_path / f"{quiz_id}.xml"
    export_moodle(quiz, out, ordering=ordering)
    imported = moodle_import.import_file(ET.parse(out).getroot())
    assert len(imported) == len(quiz.questions)
    for q, question in zip(quiz.questions, imported):
        assert question.name.startswith(f"{q.id}:") and question.defaultmark == q.points
        assert imported_key(q, question) == yaml_key(q, ordering), q.id
        if q.type == "free_response":
            assert all(r.criterion in html.unescape(question.graderinfo) for r in q.rubric)


def _orders(items: list[str], limit: int = 200) -> list[list[str]]:
    return [list(p) for p in itertools.islice(itertools.permutations(items), limit)]


@pytest.mark.parametrize("scoring", ["all_or_nothing", "per_position", "pairs"])
def test_moodle_ordering_scores_like_the_grader(tmp_path, scoring):
    """Moodle's grading type for each scheme gives every order the credit our scorer gives it."""
    quiz = load_bank()["concepts"]
    q = next(q for q in quiz.questions if q.type == "ordering").model_copy(update={"scoring": scoring})
    question = ET.fromstring(ET.tostring(moodle_question(quiz, q, [])))
    imported = moodle_import.import_question(question)
    correct = [text for text, _ in imported.answers]
    text_to_letter = {text: letter for letter, text in q.items.items()}
    for order in _orders(correct):
        moodle = moodle_import.grade_ordering(imported.gradingtype, correct, order)
        ours = evaluate(q, [text_to_letter[t] for t in order]).credit
        assert moodle == pytest.approx(ours), (scoring, order)


def test_moodle_rules_refuse_what_they_should():
    """The model of Moodle's rules is strict where Moodle is: these would not import."""
    def question(xml: str) -> ET.Element:
        return ET.fromstring(f"<question type='multichoice'><name><text>x</text></name>{xml}</question>")

    with pytest.raises(moodle_import.Refused, match="invalidgrade"):
        moodle_import.import_question(question("<single>false</single><answer fraction='33.3'><text>a</text>"
                                               "</answer><answer fraction='66.7'><text>b</text></answer>"))
    with pytest.raises(moodle_import.Refused, match="fractionsaddwrong"):
        moodle_import.import_question(question("<single>false</single><answer fraction='50'><text>a</text>"
                                               "</answer><answer fraction='0'><text>b</text></answer>"))
    with pytest.raises(moodle_import.Refused, match="fractionsnomax"):
        moodle_import.import_question(question("<answer fraction='50'><text>a</text></answer>"
                                               "<answer fraction='50'><text>b</text></answer>"))
