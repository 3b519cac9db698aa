"""A quiz as a Canvas-importable QTI 1.2 package (Settings > Import course content > QTI .zip file).

The package holds ``imsmanifest.xml`` and one assessment, laid out as Canvas lays out its own
exports: ``<ident>/<ident>.xml`` with Canvas's ``question_type`` and ``points_possible`` in each
item's metadata. Scores in resprocessing are percentages of the item's points, as Canvas expects.
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
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"

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


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, tag, {k.rstrip("_"): v for k, v in attrs.items()})
    if text is not None:
        element.text = text
    return element


def _material(parent: ET.Element, text: str, html: bool = True) -> None:
    material = _sub(parent, "material")
    _sub(material, "mattext", to_html(text) if html else text, texttype="text/html" if html else "text/plain")


def _metadata(item: ET.Element, fields: list[tuple[str, str]]) -> None:
    meta = _sub(_sub(item, "itemmetadata"), "qtimetadata")
    for label, entry in fields:
        field = _sub(meta, "qtimetadatafield")
        _sub(field, "fieldlabel", label)
        _sub(field, "fieldentry", entry)


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
    _sub(condition, "setvar", f"{value:.4g}" if action == "Add" else f"{value:g}", action=action, varname="SCORE")


def _choices_item(item: ET.Element, presentation: ET.Element, q: SingleChoice | MultipleSelect | TrueFalse,
                  labels: dict[str, tuple[str, str, bool]]) -> ET.Element:
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
    return resprocessing


def _resprocessing(item: ET.Element) -> ET.Element:
    resprocessing = _sub(item, "resprocessing")
    _sub(_sub(resprocessing, "outcomes"), "decvar", maxvalue="100", minvalue="0", varname="SCORE",
         vartype="Decimal")
    return resprocessing


def _text_entry(presentation: ET.Element, fibtype: str | None = None) -> None:
    response = _sub(presentation, "response_str", ident="response1", rcardinality="Single")
    render = _sub(response, "render_fib", **({"fibtype": fibtype} if fibtype else {}))
    _sub(render, "response_label", ident="answer1", rshuffle="No")


def _matching_item(item: ET.Element, presentation: ET.Element, base: str, lefts: list[str],
                   rights: dict[str, str], answers: list[str]) -> None:
    """lefts[i] is matched to rights[answers[i]]; each right pair earns an equal share."""
    for i, left in enumerate(lefts, start=1):
        lid = _sub(presentation, "response_lid", ident=f"response_{base}_{i}")
        _material(lid, left, html=False)
        render = _sub(lid, "render_choice")
        for key, text in rights.items():
            _material(_sub(render, "response_label", ident=f"{base}_{key}"), text, html=False)
    resprocessing = _resprocessing(item)
    _general_feedback(resprocessing)
    share = 100 / len(lefts)
    for i, key in enumerate(answers, start=1):
        condition, var = _condition(resprocessing, "Yes")
        _sub(var, "varequal", f"{base}_{key}", respident=f"response_{base}_{i}")
        _score(condition, share, "Add")


def qti_item(quiz: Quiz, q: Question, warnings: list[str]) -> ET.Element:
    """One Canvas item for one question; ``warnings`` gets what Canvas cannot express."""
    base = f"{quiz.id}_{q.id}"
    item = ET.Element("item", ident=f"brokerlab_{base}", title=f"{q.id}: {q.title}")
    answer_ids: list[str] = []
    if isinstance(q, (SingleChoice, MultipleSelect)):
        answer_ids = [f"{base}_{k}" for k in q.choices]
    elif isinstance(q, TrueFalse):
        answer_ids = [f"{base}_true", f"{base}_false"]
    elif isinstance(q, Ordering):
        answer_ids = [f"{base}_{k}" for k in q.items]
    elif isinstance(q, Matching):
        answer_ids = [f"{base}_{k}" for k in q.options]
    _metadata(item, [("question_type", CANVAS_TYPES[q.type]), ("points_possible", f"{q.points:g}"),
                     ("original_answer_ids", ",".join(answer_ids)),
                     ("assessment_question_identifierref", f"brokerlab_ref_{base}")])
    presentation = _sub(item, "presentation")
    _material(presentation, q.prompt)
    where = f"{quiz.id}/{q.id}"
    if isinstance(q, (SingleChoice, MultipleSelect)):
        if isinstance(q, MultipleSelect) and q.scoring != "net_correct":
            warnings.append(f"{where}: Canvas scores multiple answers with its own partial credit "
                            f"(right minus wrong picks), not {q.scoring}")
        _choices_item(item, presentation, q, {f"{base}_{k}": (c.text, c.feedback, c.correct)
                                              for k, c in q.choices.items()})
    elif isinstance(q, TrueFalse):
        _choices_item(item, presentation, q, {f"{base}_true": ("True", q.feedback_true, q.answer),
                                              f"{base}_false": ("False", q.feedback_false, not q.answer)})
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
        _matching_item(item, presentation, base, [f"Position {i}" for i in range(1, len(q.answer) + 1)],
                       dict(q.items), list(q.answer))
    elif isinstance(q, Matching):
        if q.scoring != "each_answer":
            warnings.append(f"{where}: Canvas gives matching questions credit per pair, not {q.scoring}")
        _matching_item(item, presentation, base, [p.prompt for p in q.pairs], dict(q.options),
                       [p.answer for p in q.pairs])
    elif isinstance(q, FreeResponse):
        _text_entry(presentation)
        resprocessing = _resprocessing(item)
        _general_feedback(resprocessing)
        _, var = _condition(resprocessing)
        _sub(var, "other")
    explanation = q.explanation
    if isinstance(q, FreeResponse):
        rubric = "\n".join(f"- ({r.points:g} pt) {r.criterion}" for r in q.rubric)
        explanation = f"{q.explanation}\n\n**Model answer**\n\n{q.model_answer}\n\n**Rubric**\n\n{rubric}"
    _feedback(item, "general_fb", explanation)
    return item


def assessment_xml(quiz: Quiz, ident: str, warnings: list[str]) -> ET.Element:
    root = ET.Element("questestinterop", {"xmlns": QTI_NS, "xmlns:xsi": XSI_NS, "xsi:schemaLocation":
                      f"{QTI_NS} http://www.imsglobal.org/xsd/ims_qtiasiv1p2p1.xsd"})
    assessment = _sub(root, "assessment", ident=ident, title=quiz.title)
    meta = _sub(assessment, "qtimetadata")
    field = _sub(meta, "qtimetadatafield")
    _sub(field, "fieldlabel", "cc_maxattempts")
    _sub(field, "fieldentry", "1")
    section = _sub(assessment, "section", ident="root_section")
    for q in quiz.questions:
        section.append(qti_item(quiz, q, warnings))
    return root


def manifest_xml(quiz: Quiz, ident: str) -> ET.Element:
    root = ET.Element("manifest", {"identifier": f"{ident}_manifest", "xmlns": CP_NS, "xmlns:xsi": XSI_NS})
    meta = _sub(root, "metadata")
    _sub(meta, "schema", "IMS Content")
    _sub(meta, "schemaversion", "1.1.3")
    _sub(root, "organizations")
    resource = _sub(_sub(root, "resources"), "resource", identifier=ident, type="imsqti_xmlv1p2")
    _sub(resource, "file", href=f"{ident}/{ident}.xml")
    return root


def _bytes(root: ET.Element) -> bytes:
    ET.indent(root)
    return ET.tostring(root, encoding="UTF-8", xml_declaration=True)


def export_qti(quiz: Quiz, out: Path) -> list[str]:
    """Write the Canvas QTI zip; returns the warnings."""
    warnings: list[str] = []
    ident = f"brokerlab_{quiz.id}"
    files = {"imsmanifest.xml": _bytes(manifest_xml(quiz, ident)),
             f"{ident}/{ident}.xml": _bytes(assessment_xml(quiz, ident, warnings))}
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0)), data,
                             compress_type=zipfile.ZIP_DEFLATED)
    return warnings
