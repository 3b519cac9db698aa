"""Renderings of ``SubmissionResult``: each says the same verdicts in another format."""
from __future__ import annotations

import json

from grader.results import SubmissionResult

FORMATS = ("text", "json", "gradescope")


def render(result: SubmissionResult, fmt: str, *, color: bool = False) -> str:
    if fmt == "json":
        return json.dumps(result.to_json_dict(), indent=2, ensure_ascii=False) + "\n"
    if fmt == "gradescope":
        from grader.render.gradescope import to_gradescope

        return json.dumps(to_gradescope(result), indent=2, ensure_ascii=False) + "\n"
    from grader.render.text import to_text

    return to_text(result)
