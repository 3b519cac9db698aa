"""Renderings of ``SubmissionResult``: each says the same verdicts in another format."""
from __future__ import annotations

import json

from grader.results import SubmissionResult

FORMATS = ("text", "json", "gradescope")
# json.dumps escapes C0 controls only; DEL, C1 (U+009B is a CSI to many terminals) and the
# Unicode separators and bidi overrides would reach a terminal raw
_JSON_UNSAFE = {c: f"\\u{c:04x}" for c in (*range(0x7F, 0xA0), 0x200E, 0x200F, *range(0x2028, 0x202F),
                                           *range(0x2066, 0x206A))}


def _json(data: object) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False).translate(_JSON_UNSAFE) + "\n"


def render(result: SubmissionResult, fmt: str, *, color: bool = False) -> str:
    if fmt == "json":
        return _json(result.to_json_dict())
    if fmt == "gradescope":
        from grader.render.gradescope import to_gradescope

        return _json(to_gradescope(result))
    from grader.render.text import to_text

    return to_text(result)
