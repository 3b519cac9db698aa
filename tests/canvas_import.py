"""Canvas's import rules for a QTI 1.2 package, as the tests apply them to every export.

Canvas converts QTI 1.2 to 2.1 with instructure/QTIMigrationTool and then reads the result with
the qti_exporter plugin of instructure/canvas-lms. This models the rules of both that decide what
an imported question means (what is right, what it is worth, what students see); it works on the
1.2 XML directly and applies the converter's identifier rule where the 2.1 identifiers matter.
The sources read, with the rule each gives:

- QTIMigrationTool ``lib/imsqtiv1.py`` (``ReadIdentifier``, ``CheckNMTOKEN``): a response
  label's ident that does not start with a letter or ``_`` gets the prefix ``RESPONSE_``;
  ``:`` and ``.`` become ``_``; the values compared in conditions are converted the same way.
- canvas-lms ``gems/plugins/qti_exporter/lib/qti/assessment_item_converter.rb``
  (``parse_instructure_metadata``, ``get_or_generate_answer_id``, ``create_instructure_question``,
  ``get_feedback``): ``question_type`` is used only if it is one of
  ``AssessmentQuestion::ALL_QUESTION_TYPES`` (``app/models/assessment_question.rb``);
  ``points_possible`` is ``max(float, 0)``, 1 when missing; in Canvas flavour an answer's id is the
  next ``original_answer_ids`` entry, else its ident less ``response_``, and one with a letter in
  it (or 0) is a random id; feedback ``general_fb``, ``correct_fb`` and ``general_incorrect_fb``
  become the neutral, correct and incorrect comments, and answer feedback the answer's comments.
- ``.../qti/choice_interaction.rb`` (``process_response_conditions``, ``get_response_weight``):
  a choice is right when a condition that sets SCORE above 0 names it (``and`` of ``member``:
  the non-negated ones).
- ``.../qti/associate_interaction.rb`` (``get_canvas_matches``, ``get_canvas_answers``,
  ``ensure_correct_format``): a matching option's ``match_id`` is the first run of digits in its
  identifier (``=~ /(\\d+)/``), else a random id; a left side's match is the option named by its
  condition that adds to SCORE; its right-hand text is that of the *first* option with that
  ``match_id``.
- ``lib/cc/importer/canvas/quiz_metadata_converter.rb`` (``post_process_assessments``,
  ``get_quiz_meta``): the quiz settings are read from a manifest resource whose type ends in
  ``learning-application-resource`` and whose file is ``<assessment ident>/assessment_meta.xml``.

Not read in code but taken as given: Canvas shows a classic quiz's neutral, correct, incorrect and
answer comments to students with their results, and has no grader-only field for an essay; so
every item feedback counts as student-visible here.
"""
from __future__ import annotations

import random
import re
import xml.etree.ElementTree as ET
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

ALL_QUESTION_TYPES = frozenset({
    "multiple_answers_question", "fill_in_multiple_blanks_question", "matching_question",
    "missing_word_question", "multiple_choice_question", "numerical_question", "text_only_question",
    "short_answer_question", "multiple_dropdowns_question", "calculated_question", "essay_question",
    "true_false_question", "file_upload_question",
})
ASSESSMENT_META = "assessment_meta.xml"
NMSTART = re.compile(r"[A-Za-z_]")
NMTOKEN_BAD = re.compile(r"[^A-Za-z0-9_.\-:]")
FEEDBACK_FIELDS = {"general_fb": "neutral_comments", "correct_fb": "correct_comments",
                   "general_incorrect_fb": "incorrect_comments"}


def local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def find_all(element: ET.Element, name: str) -> list[ET.Element]:
    return [e for e in element.iter() if local(e.tag) == name]


def find(element: ET.Element, name: str) -> ET.Element | None:
    return next(iter(find_all(element, name)), None)


def text_of(element: ET.Element | None) -> str:
    return "" if element is None else "".join(element.itertext()).strip()


def qti2_identifier(ident: str, prefix: str = "RESPONSE_") -> str:
    """QTIMigrationTool's ReadIdentifier: what a 1.2 ident becomes in the 2.1 Canvas reads."""
    token = NMTOKEN_BAD.sub("-", ident.strip())
    if not token or not NMSTART.match(token):
        token = prefix + token
    return token.replace(":", "_").replace(".", "_")


def match_id_of(identifier: str) -> int | None:
    """get_canvas_matches: the first run of digits, or None where Canvas draws a random id."""
    found = re.search(r"(\d+)", identifier)
    return int(found.group(1)) if found else None


def answer_id_of(raw: str | None) -> int | None:
    """get_or_generate_answer_id: None where Canvas draws a random id."""
    if raw is None or re.search(r"[A-Za-z]", raw) or not raw.strip().lstrip("-").isdigit() or int(raw) == 0:
        return None
    return int(raw)


@dataclass
class Imported:
    """One question as Canvas stores it after the import."""

    migration_id: str
    title: str
    question_type: str | None
    points_possible: float
    answers: list[dict] = field(default_factory=list)
    matches: list[dict] = field(default_factory=list)
    comments: dict[str, str] = field(default_factory=dict)
    random_ids: int = 0  # ids Canvas had to draw at random: none of them survive a re-import

    def student_visible(self) -> list[str]:
        return [*self.comments.values(), *(a["comments"] for a in self.answers if a.get("comments"))]

    def right_answers(self) -> list[str]:
        return sorted(a["text"] for a in self.answers if a.get("weight", 0) > 0)

    def pairs(self) -> dict[str, str | None]:
        return {a["left"]: a.get("right") for a in self.answers}


@dataclass
class ImportedQuiz:
    title: str
    settings: dict[str, str]
    questions: list[Imported]


class _Ids:
    """unique_local_id: rand(100_000), unique among the random ones (and only those)."""

    def __init__(self) -> None:
        self.rng = random.Random(0)
        self.drawn: set[int] = set()

    def draw(self) -> int:
        while (value := self.rng.randrange(100_000)) in self.drawn:
            pass
        self.drawn.add(value)
        return value


def _metadata(item: ET.Element) -> dict[str, str]:
    return {text_of(find(f, "fieldlabel")): text_of(find(f, "fieldentry")) for f in find_all(item, "qtimetadatafield")}


def _conditions(item: ET.Element) -> list[ET.Element]:
    return find_all(item, "respcondition")


def _score_added(condition: ET.Element) -> float | None:
    setvar = next((s for s in find_all(condition, "setvar") if s.get("varname", "SCORE") == "SCORE"), None)
    if setvar is None:
        return None
    return float(setvar.text or 0)


def _feedback(item: ET.Element) -> dict[str, str]:
    return {f.get("ident", ""): text_of(find(f, "mattext")) for f in find_all(item, "itemfeedback")}


def _choices(item: ET.Element, question: Imported, original: list[str], ids: _Ids) -> None:
    lid = find(item, "response_lid")
    assert lid is not None, f"{question.migration_id}: no response_lid"
    by_identifier: dict[str, dict] = {}
    for label in find_all(lid, "response_label"):
        identifier = qti2_identifier(label.get("ident", ""))
        raw = original.pop(0) if original else identifier.removeprefix("RESPONSE_")
        answer_id = answer_id_of(raw)
        if answer_id is None:
            question.random_ids += 1
            answer_id = ids.draw()
        answer = {"id": answer_id, "migration_id": identifier, "text": text_of(find(label, "mattext")), "weight": 0}
        question.answers.append(answer)
        by_identifier[identifier] = answer
    feedback = _feedback(item)
    for condition in _conditions(item):
        score = _score_added(condition)
        named = [v for v in find_all(condition, "varequal")]
        negated = {id(v) for n in find_all(condition, "not") for v in find_all(n, "varequal")}
        for var in named:
            answer = by_identifier.get(qti2_identifier(var.text or ""))
            if answer is None:
                continue
            if score is not None and id(var) not in negated:
                answer["weight"] = 100 if score > 0 else 0
            for display in find_all(condition, "displayfeedback"):
                if display.get("linkrefid") in feedback and display.get("linkrefid") not in FEEDBACK_FIELDS:
                    answer["comments"] = feedback[display.get("linkrefid")]


def _matching(item: ET.Element, question: Imported, original: list[str], ids: _Ids) -> None:
    lids = find_all(item, "response_lid")
    assert lids, f"{question.migration_id}: no response_lid"
    match_map: dict[str, dict] = {}
    for label in find_all(lids[0], "response_label"):
        identifier = qti2_identifier(label.get("ident", ""))
        match_id = match_id_of(identifier)
        if match_id is None:
            question.random_ids += 1
            match_id = ids.draw()
        match = {"match_id": match_id, "text": text_of(find(label, "mattext"))}
        question.matches.append(match)
        match_map[identifier] = match
    by_response: dict[str, dict] = {}
    for lid in lids:
        response = qti2_identifier(lid.get("ident", ""))
        raw = original.pop(0) if original else re.sub(r"(?i)^response_", "", response)
        answer_id = answer_id_of(raw)
        if answer_id is None:
            question.random_ids += 1
            answer_id = ids.draw()
        prompt = next((m for m in lid if local(m.tag) == "material"), None)
        answer = {"id": answer_id, "left": text_of(prompt)}
        question.answers.append(answer)
        by_response[response] = answer
    for condition in _conditions(item):
        setvar = find(condition, "setvar")
        var = find(condition, "varequal")
        if setvar is None or var is None or setvar.get("action", "Set") != "Add":
            continue
        answer = by_response.get(qti2_identifier(var.get("respident", "")))
        match = match_map.get(qti2_identifier(var.text or ""))
        if answer is not None and match is not None:
            answer["match_id"] = match["match_id"]
    for answer in question.answers:
        first = next((m for m in question.matches if m["match_id"] == answer.get("match_id")), None)
        answer["right"] = first["text"] if first else None


def _text_answers(item: ET.Element, question: Imported) -> None:
    for condition in _conditions(item):
        score = _score_added(condition)
        if not score or score <= 0:
            continue
        low, high = find(condition, "vargte"), find(condition, "varlte")
        if low is not None and high is not None:
            question.answers.append({"start": float(low.text or 0), "end": float(high.text or 0), "weight": 100})
        else:
            question.answers += [{"text": v.text, "weight": 100} for v in find_all(condition, "varequal")]


def import_item(item: ET.Element, ids: _Ids) -> Imported:
    meta = _metadata(item)
    kind = meta.get("question_type")
    points = meta.get("points_possible")
    question = Imported(
        migration_id=qti2_identifier(item.get("ident", ""), "ID-"), title=item.get("title", ""),
        question_type=kind if kind in ALL_QUESTION_TYPES else None,
        points_possible=max(float(points), 0.0) if points else 1.0)
    original = [x for x in meta.get("original_answer_ids", "").split(",") if x] or []
    if kind in ("multiple_choice_question", "multiple_answers_question", "true_false_question"):
        _choices(item, question, original, ids)
    elif kind == "matching_question":
        _matching(item, question, original, ids)
    elif kind in ("short_answer_question", "numerical_question"):
        _text_answers(item, question)
    for ident, text in _feedback(item).items():
        if ident in FEEDBACK_FIELDS:
            question.comments[FEEDBACK_FIELDS[ident]] = text
    return question


def import_package(path: Path) -> ImportedQuiz:
    """What Canvas makes of a QTI .zip: the quiz's settings and its questions."""
    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
        manifest = ET.fromstring(archive.read("imsmanifest.xml"))
        resources = find_all(manifest, "resource")
        (qti,) = [r for r in resources if r.get("type") == "imsqti_xmlv1p2"]
        href = find(qti, "file").get("href")  # type: ignore[union-attr]
        assert href in names, f"the manifest names {href}, which the zip lacks"
        doc = ET.fromstring(archive.read(href))
        assessment = find(doc, "assessment")
        assert assessment is not None
        quiz_id = qti2_identifier(assessment.get("ident", ""), "ID-")
        settings: dict[str, str] = {}
        for resource in resources:
            if not resource.get("type", "").endswith("learning-application-resource"):
                continue
            for file in find_all(resource, "file"):
                meta_path = file.get("href", "")
                if meta_path.endswith(ASSESSMENT_META) and meta_path == f"{quiz_id}/{ASSESSMENT_META}":
                    meta = ET.fromstring(archive.read(meta_path))
                    settings = {local(e.tag): (e.text or "") for e in meta if len(e) == 0}
    ids = _Ids()
    questions = [import_item(item, ids) for item in find_all(assessment, "item")]
    return ImportedQuiz(title=assessment.get("title", ""), settings=settings, questions=questions)
