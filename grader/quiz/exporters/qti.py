"""A quiz as a Canvas-importable QTI 1.2 package (Settings > Import course content > QTI .zip file).

The package is laid out as Canvas lays out its own exports: ``imsmanifest.xml``, the assessment
``<ident>/<ident>.xml`` with Canvas's ``question_type`` and ``points_possible`` in each item's
metadata, and ``<ident>/assessment_meta.xml`` (the quiz settings: without it Canvas imports a
practice quiz). Scores in resprocessing are percentages of the item's points, as Canvas expects.

Canvas derives ids from idents: a matching option's id is the first run of digits in its ident,
an answer's id the ident without ``response_``. So every response label is a number unique in
the quiz (question n's labels are n*100+1, ...; matching options n*100+51, ...), as in Canvas's
own exports. Canvas shows every item feedback to students, so a free response carries neither
its model answer nor its rubric nor its explanation.
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

from grader.quiz.exporters import to_html
from grader.quiz.schema import (
    FreeResponse, Matching, MultipleSelect, Numeric, Ordering, Question, Quiz, ShortAnswer, SingleChoice, TrueFalse,
)

QTI_NS = "http://www.imsglobal.org/xsd/ims_qtiasiv1p2"
CP_NS = "http://www.imsglobal.org/xsd/imsccv1p1/imscp_v1p1"
CANVAS_NS = "http://canvas.instructure.com/xsd/cccv1p0"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
ASSESSMENT_META = "assessment_meta.xml"
LEARNING_APPLICATION = "associatedcontent/imscc_xmlv1p1/learning-application-resource"
OPTION_OFFSET = 50  # matching options are numbered after the left-hand items

CANVAS_TYPES: dict[str, str] = {
    "single": "multiple_choice_question",
    "multiple": "multiple_answers_question",
    "true_false": "true_false_question",
    "short_answer": "short_answer_question",
    "numeric": "numerical_question",
    "ordering": "matching_question",
    "matching": "matching_question",
    "free_response": "essay_question",
}

# assessment_meta.xml: a graded quiz, one attempt, unpublished, right answers not shown until the
# instructor chooses to (the grader's own feedback waits for the due date the same way).
QUIZ_SETTINGS: dict[str, str] = {
    "shuffle_answers": "false",
    "scoring_policy": "keep_highest",
    "hide_results": "",
    "quiz_type": "assignment",
    "show_correct_answers": "false",
    "anonymous_submissions": "false",
    "could_be_locked": "false",
    "allowed_attempts": "1",
    "one_question_at_a_time": "false",
    "cant_go_back": "false",
    "available": "false",
    "one_time_results": "false",
    "show_correct_answers_last_attempt": "false",
    "only_visible_to_overrides": "false",
}


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, tag, {k.rstrip("_"): v for k, v in attrs.items()})
    if text is not None:
        element.text = text
    return element


def _material(parent: ET.Element, text: str, html: bool = True) -> None:
    material = _sub(parent, "material")
    _sub(material, "mattext", to_html(text) if html else text, texttype="text/html" if html else "text/plain")


def _metadata(fields: list[tuple[str, str]]) -> ET.Element:
    itemmetadata = ET.Element("itemmetadata")
    meta = _sub(itemmetadata, "qtimetadata")
    for label, entry in fields:
        field = _sub(meta, "qtimetadatafield")
        _sub(field, "fieldlabel", label)
        _sub(field, "fieldentry", entry)
    return itemmetadata


def _feedback(item: ET.Element, ident: str, text: str) -> None:
    _material(_sub(_sub(item, "itemfeedback", ident=ident), "flow_mat"), text)


def _condition(resprocessing: ET.Element, continue_: str = "No") -> tuple[ET.Element, ET.Element]:
    condition = _sub(resprocessing, "respcondition", continue_=continue_)
    return condition, _sub(condition, "conditionvar")


def _general_feedback(resprocessing: ET.Element) -> None:
    condition, var = _condition(resprocessing, "Yes")
    _sub(var, "other")
    _sub(condition, "displayfeedback", feedbacktype="Response", linkrefid="general_fb")


def _choice_feedback(resprocessing: ET.Element, respident: str, label: str) -> None:
    condition, var = _condition(resprocessing, "Yes")
    _sub(var, "varequal", label, respident=respident)
    _sub(condition, "displayfeedback", feedbacktype="Response", linkrefid=f"{label}_fb")


def _score(condition: ET.Element, value: float, action: str = "Set") -> None:
    _sub(condition, "setvar", f"{value:.2f}" if action == "Add" else f"{value:g}", action=action, varname="SCORE")


def answer_ids(position: int, count: int, offset: int = 0) -> list[str]:
    """The numeric idents of question ``position``'s answers: unique in the quiz, as Canvas needs."""
    if count > OPTION_OFFSET - 1:
        raise ValueError(f"question {position}: Canvas idents allow at most {OPTION_OFFSET - 1} answers")
    return [str(position * 100 + offset + k) for k in range(1, count + 1)]


def _choices_item(item: ET.Element, presentation: ET.Element, q: SingleChoice | MultipleSelect | TrueFalse,
                  labels: dict[str, tuple[str, str, bool]]) -> None:
    """labels: ident -> (text, feedback, correct)."""
    lid = _sub(presentation, "response_lid", ident="response1",
               rcardinality="Multiple" if isinstance(q, MultipleSelect) else "Single")
    render = _sub(lid, "render_choice")
    for ident, (text, _, _) in labels.items():
        _material(_sub(render, "response_label", ident=ident), text, html=False)
    resprocessing = _resprocessing(item)
    _general_feedback(resprocessing)
    for ident in labels:
        _choice_feedback(resprocessing, "response1", ident)
    condition, var = _condition(resprocessing)
    if isinstance(q, MultipleSelect):
        both = _sub(var, "and")
        for ident, (_, _, correct) in labels.items():
            _sub(both if correct else _sub(both, "not"), "varequal", ident, respident="response1")
    else:
        right = next(ident for ident, (_, _, correct) in labels.items() if correct)
        _sub(var, "varequal", right, respident="response1")
    _score(condition, 100)
    for ident, (_, feedback, _) in labels.items():
        _feedback(item, f"{ident}_fb", feedback)


def _resprocessing(item: ET.Element) -> ET.Element:
    resprocessing = _sub(item, "resprocessing")
    _sub(_sub(resprocessing, "outcomes"), "decvar", maxvalue="100", minvalue="0", varname="SCORE",
         vartype="Decimal")
    return resprocessing


def _text_entry(presentation: ET.Element, fibtype: str | None = None) -> None:
    response = _sub(presentation, "response_str", ident="response1", rcardinality="Single")
    render = _sub(response, "render_fib", **({"fibtype": fibtype} if fibtype else {}))
    _sub(render, "response_label", ident="answer1", rshuffle="No")


def _matching_item(item: ET.Element, presentation: ET.Element, position: int, lefts: list[str],
                   rights: dict[str, str], answers: list[str]) -> list[str]:
    """lefts[i] is matched to rights[answers[i]]; each right pair earns an equal share.

    Returns the left-hand items' ids (Canvas's answer ids)."""
    left_ids = answer_ids(position, len(lefts))
    right_ids = dict(zip(rights, answer_ids(position, len(rights), OPTION_OFFSET)))
    for left_id, left in zip(left_ids, lefts):
        lid = _sub(presentation, "response_lid", ident=f"response_{left_id}")
        _material(lid, left, html=False)
        render = _sub(lid, "render_choice")
        for key, text in rights.items():
            _material(_sub(render, "response_label", ident=right_ids[key]), text, html=False)
    resprocessing = _resprocessing(item)
    _general_feedback(resprocessing)
    share = 100 / len(lefts)
    for left_id, key in zip(left_ids, answers):
        condition, var = _condition(resprocessing, "Yes")
        _sub(var, "varequal", right_ids[key], respident=f"response_{left_id}")
        _score(condition, share, "Add")
    return left_ids


def qti_item(quiz: Quiz, q: Question, warnings: list[str], position: int | None = None) -> ET.Element:
    """One Canvas item for question number ``position`` (1-based; default: its place in the quiz)."""
    position = position or next(i for i, other in enumerate(quiz.questions, start=1) if other.id == q.id)
    base = f"{quiz.id}_{q.id}"
    item = ET.Element("item", ident=f"brokerlab_{base}", title=f"{q.id}: {q.title}")
    presentation = _sub(item, "presentation")
    _material(presentation, q.prompt)
    where = f"{quiz.id}/{q.id}"
    ids: list[str] = []
    if isinstance(q, (SingleChoice, MultipleSelect)):
        if isinstance(q, MultipleSelect) and q.scoring != "net_correct":
            warnings.append(f"{where}: Canvas scores multiple answers with its own partial credit "
                            f"(right minus wrong picks), not {q.scoring}")
        ids = answer_ids(position, len(q.choices))
        _choices_item(item, presentation, q, {ident: (c.text, c.feedback, c.correct)
                                              for ident, c in zip(ids, q.choices.values())})
    elif isinstance(q, TrueFalse):
        ids = answer_ids(position, 2)
        _choices_item(item, presentation, q, {ids[0]: ("True", q.feedback_true, q.answer),
                                              ids[1]: ("False", q.feedback_false, not q.answer)})
    elif isinstance(q, ShortAnswer):
        shown = q.display or q.answers
        if q.match == "regex":
            warnings.append(f"{where}: Canvas has no regex answers; exported the display answers "
                            f"{', '.join(shown)}")
        elif q.match == "exact":
            warnings.append(f"{where}: Canvas compares short answers ignoring case; 'exact' becomes case-insensitive")
        _text_entry(presentation)
        resprocessing = _resprocessing(item)
        _general_feedback(resprocessing)
        condition, var = _condition(resprocessing)
        for answer in shown:
            _sub(var, "varequal", answer, respident="response1")
        _score(condition, 100)
    elif isinstance(q, Numeric):
        _text_entry(presentation, "Decimal")
        resprocessing = _resprocessing(item)
        _general_feedback(resprocessing)
        condition, var = _condition(resprocessing)
        either = _sub(var, "or")
        _sub(either, "varequal", f"{q.answer:g}", respident="response1")
        both = _sub(either, "and")
        _sub(both, "vargte", f"{q.answer - q.tolerance:g}", respident="response1")
        _sub(both, "varlte", f"{q.answer + q.tolerance:g}", respident="response1")
        _score(condition, 100)
    elif isinstance(q, Ordering):
        warnings.append(f"{where}: Canvas has no ordering question; exported as matching (position -> item)"
                        + ("" if q.scoring == "per_position" else f", scored per position, not {q.scoring}"))
        ids = _matching_item(item, presentation, position,
                             [f"Position {i}" for i in range(1, len(q.answer) + 1)], dict(q.items), list(q.answer))
    elif isinstance(q, Matching):
        if q.scoring != "each_answer":
            warnings.append(f"{where}: Canvas gives matching questions credit per pair, not {q.scoring}")
        ids = _matching_item(item, presentation, position, [p.prompt for p in q.pairs], dict(q.options),
                             [p.answer for p in q.pairs])
    elif isinstance(q, FreeResponse):
        warnings.append(f"{where}: Canvas shows every feedback to students; the model answer, rubric and "
                        f"explanation are left out (they are in quizzes/{quiz.id}.yaml)")
        _text_entry(presentation)
        _, var = _condition(_resprocessing(item))
        _sub(var, "other")
    if not isinstance(q, FreeResponse):
        _feedback(item, "general_fb", q.explanation)
    fields = [("question_type", CANVAS_TYPES[q.type]), ("points_possible", f"{q.points:g}")]
    if ids:
        fields.append(("original_answer_ids", ",".join(ids)))
    fields.append(("assessment_question_identifierref", f"brokerlab_ref_{base}"))
    item.insert(0, _metadata(fields))
    return item


def assessment_xml(quiz: Quiz, ident: str, warnings: list[str]) -> ET.Element:
    root = ET.Element("questestinterop", {"xmlns": QTI_NS, "xmlns:xsi": XSI_NS, "xsi:schemaLocation":
                      f"{QTI_NS} http://www.imsglobal.org/xsd/ims_qtiasiv1p2p1.xsd"})
    assessment = _sub(root, "assessment", ident=ident, title=quiz.title)
    meta = _sub(assessment, "qtimetadata")
    field = _sub(meta, "qtimetadatafield")
    _sub(field, "fieldlabel", "cc_maxattempts")
    _sub(field, "fieldentry", QUIZ_SETTINGS["allowed_attempts"])
    section = _sub(assessment, "section", ident="root_section")
    for position, q in enumerate(quiz.questions, start=1):
        section.append(qti_item(quiz, q, warnings, position))
    return root


def assessment_meta_xml(quiz: Quiz, ident: str) -> ET.Element:
    """Canvas's quiz settings file; its importer reads it through the manifest's dependency."""
    root = ET.Element("quiz", {"identifier": ident, "xmlns": CANVAS_NS, "xmlns:xsi": XSI_NS,
                               "xsi:schemaLocation": f"{CANVAS_NS} https://canvas.instructure.com/xsd/cccv1p0.xsd"})
    _sub(root, "title", quiz.title)
    _sub(root, "description", to_html(quiz.instructions) if quiz.instructions else "")
    for key, value in QUIZ_SETTINGS.items():
        _sub(root, key, value)
        if key == "quiz_type":
            _sub(root, "points_possible", f"{sum(q.points for q in quiz.questions):g}")
    return root


def manifest_xml(quiz: Quiz, ident: str) -> ET.Element:
    root = ET.Element("manifest", {"identifier": f"{ident}_manifest", "xmlns": CP_NS, "xmlns:xsi": XSI_NS})
    meta = _sub(root, "metadata")
    _sub(meta, "schema", "IMS Content")
    _sub(meta, "schemaversion", "1.1.3")
    _sub(root, "organizations")
    resources = _sub(root, "resources")
    resource = _sub(resources, "resource", identifier=ident, type="imsqti_xmlv1p2")
    _sub(resource, "file", href=f"{ident}/{ident}.xml")
    _sub(resource, "dependency", identifierref=f"{ident}_meta")
    meta_path = f"{ident}/{ASSESSMENT_META}"
    settings = _sub(resources, "resource", identifier=f"{ident}_meta", type=LEARNING_APPLICATION, href=meta_path)
    _sub(settings, "file", href=meta_path)
    return root


def _bytes(root: ET.Element) -> bytes:
    ET.indent(root)
    return ET.tostring(root, encoding="UTF-8", xml_declaration=True)


def export_qti(quiz: Quiz, out: Path) -> list[str]:
    """Write the Canvas QTI zip; returns the warnings."""
    warnings: list[str] = []
    ident = f"brokerlab_{quiz.id}"
    files = {"imsmanifest.xml": _bytes(manifest_xml(quiz, ident)),
             f"{ident}/{ident}.xml": _bytes(assessment_xml(quiz, ident, warnings)),
             f"{ident}/{ASSESSMENT_META}": _bytes(assessment_meta_xml(quiz, ident))}
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0)), data,
                             compress_type=zipfile.ZIP_DEFLATED)
    return warnings
