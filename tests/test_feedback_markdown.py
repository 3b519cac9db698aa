"""Feedback Markdown means the same under CommonMark (markdown-it-py) and original Markdown
(python-markdown, as many LMS and PHP sites render it): the same headings, list items and their
text, code blocks, quotes and emphasis, for real feedback of several submissions, hostile ones
included, and neither rendering lets the student's text become markup."""
from __future__ import annotations

import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import markdown
import pytest
from markdown_it import MarkdownIt

from grader.bulk.pool import blank
from grader.paths import EXAMPLES, SOLUTIONS
from grader.render.markdown import to_markdown
from grader.results import ExerciseResult, Status, SubmissionResult, TestResult

HOSTILE = Path(__file__).parent / "adversarial" / "outputs"
ESC = "\x1b[2J\x1b]0;owned\x07\r"
BREAKOUT = ("\n~~~~~\n`````\n</details>\n# Owned\n===\n    indented\n\n    code?\n1. one\n+ plus\n> quote\n"
            "![t](http://evil.example/t.png) [x]: http://evil.example\n<script>alert(1)</script>\n"
            "a | b ~~gone~~ $x$ *em* _em_ **b** `c` &amp; \\* <http://evil.example>\n---\n\tTab")
STUDENT_ID = "amy\n# Owned <img src=x> [x](http://evil.example) |a|b|"


def commonmark(text: str) -> str:
    return MarkdownIt("commonmark").render(text)


def original(text: str) -> str:
    return markdown.markdown(text)


class _Tree(HTMLParser):
    """HTML as nested (tag, children) with text: the structure a reader sees."""

    VOID = {"br", "hr", "img"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root: list = []
        self.stack: list[list] = [self.root]

    def handle_starttag(self, tag: str, attrs: list) -> None:
        node: list = [tag, dict(attrs), []]
        self.stack[-1].append(node)
        if tag not in self.VOID:
            self.stack.append(node[2])

    def handle_endtag(self, tag: str) -> None:
        if tag not in self.VOID and len(self.stack) > 1:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.stack[-1].append(data)


def structure(html: str) -> list:
    parser = _Tree()
    parser.feed(html)
    parser.close()

    def norm(nodes: list, pre: bool = False) -> list:
        out: list = []
        for node in nodes:
            if isinstance(node, str):
                text = node if pre else " ".join(node.split())
                if text.strip():
                    if out and isinstance(out[-1], str):
                        out[-1] += (" " if not pre else "") + text
                    else:
                        out.append(text)
                continue
            tag, attrs, children = node
            out.append((tag, sorted(attrs.items()), norm(children, pre or tag == "pre")))
        if pre and out and isinstance(out[-1], str):
            out[-1] = out[-1].rstrip("\n")
        return out

    return norm(parser.root)


def tags(tree: list) -> set[str]:
    found: set[str] = set()
    for node in tree:
        if isinstance(node, tuple):
            found.add(node[0])
            found |= tags(node[2])
    return found


def hostile_result() -> SubmissionResult:
    failed = TestResult(name="t" + ESC + BREAKOUT, score=0, max_score=5, status=Status.FAILED,
                        feedback="Answer given: " + ESC + BREAKOUT, concept="c " + BREAKOUT,
                        output=ESC + BREAKOUT, traceback="Traceback\nRuntimeError: " + ESC + BREAKOUT)
    passed = TestResult(name="fine", score=5, max_score=5, status=Status.PASSED)
    waiting = TestResult(name="q3: Free", score=0, max_score=3, status=Status.NEEDS_GRADING,
                         feedback="Waits for a person to grade it.\nAnswer given: " + BREAKOUT)
    return SubmissionResult(exercises={
        "producer": ExerciseResult(tests=[passed, failed, passed]),
        "[x](javascript:alert(1))" + BREAKOUT: ExerciseResult(kind="quiz", feedback="no quiz " + BREAKOUT),
        "checkpoint": ExerciseResult(kind="quiz", tests=[waiting, passed]),
    })


@pytest.fixture(scope="module")
def feedback(grader, tmp_path_factory) -> dict[str, str]:
    """Feedback of real submissions, as grade-all writes it, and of hostile results."""
    root = tmp_path_factory.mktemp("feedback")
    hostile = root / "hostile"
    hostile.mkdir()
    shutil.copy(HOSTILE / "print_escapes.py", hostile / "sqs_producer.py")
    shutil.copy(HOSTILE / "answers_escapes.yaml", hostile / "answers.yaml")
    shutil.copy(SOLUTIONS / "sqs_consumer.py", hostile / "sqs_consumer.py")
    (root / "nothing").mkdir()
    graded = {name: grader.grade(path) for name, path in {
        "complete": EXAMPLES / "complete", "half-done": EXAMPLES / "half-done",
        "classic-mistakes": EXAMPLES / "classic-mistakes", "hostile code": hostile, "nothing": root / "nothing",
    }.items()}
    graded["unreadable"] = blank(graded["nothing"], "unreadable", "the zip is corrupt " + BREAKOUT)
    graded["hostile text"] = hostile_result()
    return {name: to_markdown(result, STUDENT_ID if "hostile" in name else name) for name, result in graded.items()}


CASES = ["complete", "half-done", "classic-mistakes", "hostile code", "nothing", "unreadable", "hostile text"]


@pytest.mark.parametrize("case", CASES)
def test_both_renderers_see_the_same_structure(feedback, case):
    text = feedback[case]
    ours, theirs = structure(commonmark(text)), structure(original(text))
    assert ours == theirs
    assert {"h1", "p", "strong"} <= tags(ours)


def list_items(tree: list) -> list[list]:
    items = []
    for node in tree:
        if isinstance(node, tuple):
            if node[0] == "li":
                items.append(node[2])
            items += list_items(node[2])
    return items


@pytest.mark.parametrize("case", ["classic-mistakes", "half-done"])
def test_each_test_is_one_list_item_holding_its_explanation(feedback, case):
    """The failure that made this file: explanations fell out of the lists and items merged."""
    text = feedback[case]
    heads = [line for line in text.splitlines() if line.startswith("-") and "/" in line]
    for render in (commonmark, original):
        items = list_items(structure(render(text)))
        assert len(items) == len(heads), render.__name__
        for item in items:
            first = item[0]
            assert first[0] == "p" and re.search(r"\d+/\d+ \(", str(first)), (render.__name__, first)
            assert not any(isinstance(n, tuple) and n[0] == "ul" for n in item), "an item inside an item"
        explained = [i for i in items if "failed" in str(i[0]) and len(i) > 1]
        assert explained, render.__name__  # the feedback and concept stay inside the failed test's item


@pytest.mark.parametrize("case", ["hostile code", "hostile text", "unreadable"])
def test_hostile_text_stays_text_under_both(feedback, case):
    text = feedback[case]
    for render in (commonmark, original):
        html = render(text)
        tree = structure(html)
        assert tags(tree) <= {"h1", "h2", "p", "ul", "li", "strong", "em", "pre", "code", "blockquote"}, \
            (render.__name__, tags(tree))
        assert html.count("<h1>") == 1 and "Owned</h1>" not in html, render.__name__
        assert "<script" not in html and "<img" not in html and "<a " not in html, render.__name__
        assert "\x1b" not in html, render.__name__
        assert "\\|" not in html and "\\~" not in html and "\\$" not in html and "\\=" not in html, render.__name__


def test_code_blocks_hold_the_whole_output_under_both(feedback):
    text = feedback["hostile text"]
    for render in (commonmark, original):
        blocks = re.findall(r"<pre><code>(.*?)</code></pre>", render(text), re.S)
        assert len(blocks) == 2, render.__name__  # the output and the traceback, each one whole block
        for block in blocks:
            for piece in ("~~~~~", "`````", "# Owned", "&lt;script&gt;", "code?", "\\x1b[2J", "    Tab"):
                assert piece in block, (render.__name__, piece)
