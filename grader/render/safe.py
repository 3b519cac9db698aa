"""Student-controlled text made inert where people read it: terminals, Markdown, spreadsheets.

A submission's names, answers, printed output and tracebacks are hostile input. Shown raw they
could drive the instructor's terminal (ANSI and OSC escape sequences, a carriage return that
overwrites a line), restructure a Markdown page (a heading, a link, an image that calls home,
the end of a code block) or run as a spreadsheet formula. Each helper here makes one kind of
place safe while keeping the text readable.
"""
from __future__ import annotations

import re

# C0 and C1 controls, DEL, and the Unicode line separators and bidirectional overrides that
# reorder or break what a reader sees ("Trojan Source")
CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]")
# what original Markdown (python-markdown, PHP Markdown) cannot backslash-escape is written as a
# character reference, which every renderer shows as the character and none reads as markup
_MD_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", "|": "&#124;", "~": "&#126;", "$": "&#36;", "=": "&#61;"}
_MD_INLINE = re.compile(r"[\\`*_{}\[\]|~$&<>]")
_MD_LINE_START = re.compile(r"^(?:([#+-])|(=)|(\d+)([.)]))", re.M)
TAB = 4  # original Markdown's tab stop and indent: a list item's content and a code block's
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")
_NUMBER = re.compile(r"-?\d+(\.\d+)?([eE][-+]?\d+)?")


def _escape(char: str) -> str:
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def visible(text: str, keep: str = "") -> str:
    """``text`` with every control character written out (ESC as ``\\x1b``), but those in ``keep``."""
    return CONTROL.sub(lambda m: m.group() if m.group() in keep else _escape(m.group()), text)


def md_text(text: str, keep: str = "\n") -> str:
    """Text as literal Markdown: nothing in it is read as markup, HTML, a link or a block.

    Each line loses its leading and trailing spaces (indentation would make a code block; two
    trailing spaces a line break), and every character that starts markup in CommonMark or in
    original Markdown is escaped in a way both read as the character itself.
    """
    text = "\n".join(line.strip(" ") for line in visible(text, keep).split("\n"))
    text = _MD_INLINE.sub(lambda m: _MD_ENTITIES.get(m.group(), "\\" + m.group()), text)

    def line_start(m: re.Match[str]) -> str:
        if m.group(1):
            return f"\\{m.group(1)}"
        if m.group(2):
            return _MD_ENTITIES["="]
        return f"{m.group(3)}\\{m.group(4)}"

    return _MD_LINE_START.sub(line_start, text)


def md_inline(text: str) -> str:
    """Text for one line of Markdown (a heading, a test's name): line breaks shown, not made."""
    return md_text(text, keep="")


def md_code(text: str) -> str:
    """An indented code block that nothing inside ``text`` can end, with control characters shown.

    Indented, not fenced: original Markdown has no fences, and an indented block ends only at a
    line that is not indented, which this never writes. Tabs are expanded as original Markdown
    expands them, so every renderer shows the same columns.
    """
    lines = visible(text, keep="\n\t").expandtabs(TAB).strip("\n").splitlines()
    return "\n".join(" " * TAB + line if line.strip() else "" for line in lines)


def csv_cell(value: str) -> str:
    """A spreadsheet cell that is never read as a formula; numbers (negative ones too) stay numbers."""
    if value.startswith(FORMULA_START) and not _NUMBER.fullmatch(value):
        return "'" + value
    return value
