"""Exports of a quiz to learning-management systems: Canvas (QTI 1.2 zip) and Moodle (XML).

Each exporter returns the warnings about what the target cannot express exactly (an ordering
question, a scoring scheme), one line each, naming the question.
"""
from __future__ import annotations

import functools

from markdown_it import MarkdownIt


@functools.cache
def _markdown() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": False})


def to_html(text: str) -> str:
    """Prompts and explanations are Markdown; LMSs want HTML (raw HTML in the text is escaped)."""
    return _markdown().render(text).strip()
