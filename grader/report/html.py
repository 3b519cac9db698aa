"""``report.html``: how the class did, on one self-contained page for the instructor.

Plots are drawn with matplotlib's Agg backend (no display needed) and embedded as base64 PNG
``<img>`` tags; the page loads nothing from anywhere. Sections: the summary, the score
distribution, each exercise's mean, the pass rate of every hidden test, each quiz question's
difficulty and discrimination, and the most common failing tests with the concept each names.

Every name on the page is HTML-escaped, and every label in a plot is drawn as plain text (a
``$`` would otherwise start matplotlib's math mode, which fails to draw on malformed input).
"""
from __future__ import annotations

import base64
import io
from html import escape
from typing import Any, Mapping

from grader.report import stats
from grader.results import SubmissionResult

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;max-width:70em;color:#222;padding:0 1em}
h1{margin-bottom:.2em}h2{margin-top:2em;border-bottom:1px solid #ddd;padding-bottom:.2em}
table{border-collapse:collapse;margin:1em 0;font-size:.92em}
th,td{border:1px solid #ddd;padding:.3em .6em;text-align:left;vertical-align:top}
th{background:#f4f4f4}td.n{text-align:right;font-variant-numeric:tabular-nums}
img{max-width:100%;height:auto;display:block;margin:1em 0}
.muted{color:#777}.bad{color:#b00020}.ok{color:#1b5e20}
"""
LABEL_CHARS = 80
COLORS = ("#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1")


def _num(x: float | None, digits: int = 2) -> str:
    if x is None:
        return "–"
    x = round(float(x), digits)
    return "0" if x == 0 else format(x, f".{digits + 6}g")


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{x * 100:.0f} %"


def _png(fig: Any) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=96, bbox_inches="tight", metadata={"Software": None})
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img alt="" src="data:image/png;base64,{data}">'


def _label(text: str) -> str:
    """A plot label without control characters, not too long (drawn with ``parse_math=False``)."""
    from grader.render.safe import visible

    text = visible(text, keep="\n")
    return text if len(text) <= LABEL_CHARS else text[:LABEL_CHARS - 1] + "…"


def _figure(width: float, height: float) -> tuple[Any, Any]:
    try:
        import matplotlib
    except ImportError:
        from grader.errors import UserError

        raise UserError("report.html draws its plots with matplotlib: pip install 'brokerlab[report]'") from None

    matplotlib.use("Agg", force=True)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height))
    return fig, fig.subplots()


def _table(header: list[str], rows: list[list[str]], numeric: set[int] = frozenset()) -> str:  # type: ignore[assignment]
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = []
    for row in rows:
        cells = "".join(f'<td class="n">{c}</td>' if i in numeric else f"<td>{c}</td>" for i, c in enumerate(row))
        body.append(f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def plot_distribution(bins: list[tuple[float, float, int]], title: str) -> str:
    fig, ax = _figure(7, 3.2)
    labels = [f"{lo:.0f}–{hi:.0f}" for lo, hi, _ in bins]
    ax.bar(range(len(bins)), [c for _, _, c in bins], color=COLORS[0], edgecolor="white")
    ax.set_xticks(range(len(bins)), labels, fontsize=8)
    ax.set_xlabel("total, % of the full score")
    ax.set_ylabel("students")
    ax.set_title(title)
    ax.yaxis.get_major_locator().set_params(integer=True)
    return _png(fig)


def plot_pass_rates(tests: list[stats.TestStat]) -> str:
    shown = [t for t in tests if t.pass_rate is not None]
    if not shown:
        return '<p class="muted">No hidden test could run on any submission.</p>'
    exercises = list(dict.fromkeys(t.exercise for t in shown))
    fig, ax = _figure(8, 0.6 + 0.24 * len(shown))
    y = list(range(len(shown)))[::-1]
    ax.barh(y, [100 * (t.pass_rate or 0) for t in shown],
            color=[COLORS[exercises.index(t.exercise) % len(COLORS)] for t in shown])
    ax.set_yticks(y, [_label(f"{t.exercise}: {t.name}") for t in shown], fontsize=7, parse_math=False)
    ax.set_xlim(0, 100)
    ax.set_xlabel("students passing, % of those whose code ran")
    ax.set_title("Pass rate of every hidden test")
    return _png(fig)


def plot_items(items: list[stats.ItemStat]) -> str:
    shown = [i for i in items if i.difficulty is not None and i.upper_lower is not None]
    if not shown:
        return '<p class="muted">Too few students answered for discrimination to mean anything.</p>'
    fig, ax = _figure(7, 4)
    xs = [100 * (i.difficulty or 0) for i in shown]
    ys = [i.upper_lower or 0.0 for i in shown]
    ax.scatter(xs, ys, color=COLORS[1])
    for item, x, yv in zip(shown, xs, ys):
        ax.annotate(_label(f"{item.quiz}/{item.question}"), (x, yv), fontsize=7, xytext=(3, 3),
                    textcoords="offset points", parse_math=False)
    ax.axhline(0.2, color="#999", linestyle="--", linewidth=0.8)
    ax.set_xlim(-5, 105)
    ax.set_ylim(-1.05, 1.05)
    ax.set_xlabel("difficulty: students right, %")
    ax.set_ylabel("discrimination (upper − lower 27 %)")
    ax.set_title("Quiz questions")
    return _png(fig)


def plot_failures(failures: list[stats.FailureStat]) -> str:
    if not failures:
        return ""
    fig, ax = _figure(8, 0.6 + 0.3 * len(failures))
    y = list(range(len(failures)))[::-1]
    ax.barh(y, [f.failed for f in failures], color=COLORS[3])
    ax.set_yticks(y, [_label(f"{f.exercise}: {f.name}") + (f"\n({_label(f.concept)})" if f.concept else "")
                      for f in failures], fontsize=7, parse_math=False)
    ax.set_xlabel("students failing")
    ax.set_title("Most common failing tests")
    ax.xaxis.get_major_locator().set_params(integer=True)
    return _png(fig)


def render(results: Mapping[str, SubmissionResult], title: str = "Broker Lab: class report",
           notes: list[str] | None = None) -> str:
    summary = stats.summary(results)
    bins = stats.distribution(results)
    tests = stats.test_pass_rates(results)
    items = stats.quiz_items(results)
    failures = stats.common_failures(results)
    concepts = stats.concept_failures(results)
    parts = [f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{escape(title)}</title>"
             f"<style>{CSS}</style></head><body>", f"<h1>{escape(title)}</h1>"]

    statuses = ", ".join(f"{escape(k)}: {v}" for k, v in summary.by_status.items()) or "none"
    parts.append(f"<p>{summary.students} students ({statuses}). Full score {_num(summary.max_total)}.</p>")
    parts.append(_table(["", "points"], [
        ["mean", _num(summary.mean)], ["median", _num(summary.median)], ["standard deviation", _num(summary.stdev)],
        ["lowest", _num(summary.lowest)], ["highest", _num(summary.highest)]], {1}))
    for note in notes or []:
        parts.append(f'<p class="muted">{escape(note)}</p>')

    parts.append("<h2>Score distribution</h2>")
    if results:
        parts.append(plot_distribution(bins, f"Totals of {summary.students} students"))
    parts.append(_table(["total, % of full score", "students"],
                        [[f"{lo:.0f}–{hi:.0f}", str(c)] for lo, hi, c in bins], {1}))
    parts.append("<h3>Per exercise and quiz</h3>")
    parts.append(_table(["exercise / quiz", "mean", "of"],
                        [[escape(k), _num(m), _num(mx)] for k, (m, mx) in summary.exercise_means.items()], {1, 2}))

    parts.append("<h2>Hidden tests: pass rates</h2>")
    parts.append("<p class=\"muted\">Among students whose file for that exercise could be run; "
                 "a missing or unimportable file is not counted as a failure of each test.</p>")
    parts.append(plot_pass_rates(tests))
    parts.append(_table(["exercise", "test", "concept", "points", "passed", "ran", "pass rate"], [
        [escape(t.exercise), escape(t.name), escape(t.concept or ""), _num(t.max_score), str(t.passed),
         str(t.attempted), _pct(t.pass_rate)] for t in tests], {3, 4, 5, 6}))

    parts.append("<h2>Quiz questions: difficulty and discrimination</h2>")
    if items:
        parts.append("<p class=\"muted\">Difficulty is the share of students who answered right. "
                     "Discrimination compares the top and bottom 27 % of the class by total score "
                     "(1: only strong students get it right; 0 or below: it does not separate them; "
                     "below 0.2 deserves a look), and the point-biserial correlation of the question "
                     "with the rest of the score.</p>")
        parts.append(plot_items(items))
        parts.append(_table(["quiz", "question", "concept", "answered", "right", "difficulty",
                             "upper − lower", "point-biserial"], [
            [escape(i.quiz), escape(i.name), escape(i.concept or ""), str(i.answered), str(i.right),
             _pct(i.difficulty), _num(i.upper_lower), _num(i.point_biserial)] for i in items], {3, 4, 5, 6, 7}))
    else:
        parts.append('<p class="muted">No student answered a quiz.</p>')

    parts.append("<h2>Most common failing tests</h2>")
    if failures:
        parts.append(plot_failures(failures))
        parts.append(_table(["exercise", "test", "concept", "failed", "of"], [
            [escape(f.exercise), escape(f.name), escape(f.concept or ""), str(f.failed), str(f.attempted)]
            for f in failures], {3, 4}))
    else:
        parts.append('<p class="ok">No hidden test failed.</p>')
    if concepts:
        parts.append("<h3>By concept</h3>")
        parts.append(_table(["concept", "failures", "attempts", "failure rate"], [
            [escape(c), str(f), str(a), _pct(f / a if a else None)] for c, f, a in concepts], {1, 2, 3}))

    parts.append("<h2>Students</h2>")
    parts.append(_table(["student", "total", "status"], [
        [escape(k), _num(results[k].score), escape(results[k].status)] for k in sorted(results)], {1}))
    parts.append("</body></html>\n")
    return "\n".join(parts)
