"""``report.html``: how the class did, on one self-contained page for the instructor.

It answers two questions: which students need help, and which concepts the class missed. First
the summary, then every student (lowest total first) with each exercise's and quiz's score,
their weakest concepts, what waits for a person and a link to the feedback they got
(``feedback/<file>.md``, as grade-all names it), in a table sorted by clicking a column; then a
students by concepts heatmap; then the score distribution, each exercise's mean, the pass rate of
every hidden test, each quiz question's difficulty and discrimination, and the most common
failing tests with the concept each names. A free response waiting for a person is shown as
pending and is in no statistic.

Plots are drawn with matplotlib's Agg backend (no display needed) and embedded as base64 PNG
``<img>`` tags; the sorting is one inline script. The page loads nothing from anywhere, and its
Content-Security-Policy runs that one script and nothing else.

Every name on the page is HTML-escaped, and every label in a plot is drawn as plain text (a
``$`` would otherwise start matplotlib's math mode, which fails to draw on malformed input).
"""
from __future__ import annotations

import base64
import hashlib
import io
from html import escape
from typing import Any, Mapping
from urllib.parse import quote

from grader.report import stats
from grader.results import SubmissionResult

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;max-width:80em;color:#222;padding:0 1em}
h1{margin-bottom:.2em}h2{margin-top:2em;border-bottom:1px solid #ddd;padding-bottom:.2em}
table{border-collapse:collapse;margin:1em 0;font-size:.92em}
th,td{border:1px solid #ddd;padding:.3em .6em;text-align:left;vertical-align:top}
th{background:#f4f4f4}td.n{text-align:right;font-variant-numeric:tabular-nums}
img{max-width:100%;height:auto;display:block;margin:1em 0}
.muted{color:#777}.bad{color:#b00020}.ok{color:#1b5e20}.pending{color:#8a6d00}
table.sortable th{cursor:pointer;user-select:none;white-space:nowrap}
table.sortable th::after{content:" \\2195";color:#aaa}
table.sortable th[aria-sort=ascending]::after{content:" \\25B2";color:#222}
table.sortable th[aria-sort=descending]::after{content:" \\25BC";color:#222}
.scroll{overflow-x:auto}
table.heat td.h{text-align:center;min-width:2.4em;padding:.2em;font-size:.85em;font-variant-numeric:tabular-nums}
table.heat th.v{writing-mode:vertical-rl;transform:rotate(180deg);white-space:nowrap;padding:.4em .2em;
font-weight:normal;text-align:left}
table.heat th.v:not([aria-sort])::after{content:""}
#students{font-size:.85em}#students td.weak{min-width:12em}#students th,#students td{padding:.25em .45em}
th .of{font-weight:normal;color:#777;display:block}#students th{white-space:normal;vertical-align:bottom}
table.heat td.none{background:#f7f7f7;color:#aaa}
table.heat td.wait{background:repeating-linear-gradient(45deg,#fff4c2,#fff4c2 4px,#fff 4px,#fff 8px);color:#8a6d00}
table.heat tr.class td{font-weight:bold;border-bottom:2px solid #999}
"""
# Sorts a table.sortable by the clicked column (numbers by data-sort; again: the other way). The
# page's address can ask for a sort: report.html#sort=total clicks the "total" header once on
# opening, #sort=student,student twice.
SCRIPT = """
(function () {
  function value(row, col, numeric) {
    var cell = row.cells[col], v = cell.getAttribute("data-sort");
    if (v === null) v = cell.textContent.trim();
    if (!numeric) return v;
    var x = parseFloat(v);
    return isNaN(x) ? Infinity : x;
  }
  function sortBy(table, th) {
    var col = th.cellIndex, numeric = th.classList.contains("num");
    var ascending = th.getAttribute("aria-sort") !== "ascending";
    var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = value(a, col, numeric), y = value(b, col, numeric);
      var d = numeric ? (x < y ? -1 : x > y ? 1 : 0) : x.localeCompare(y);
      return ascending ? d : -d;
    });
    rows.forEach(function (row) { body.appendChild(row); });
    Array.prototype.forEach.call(table.querySelectorAll("th[aria-sort]"), function (h) {
      h.removeAttribute("aria-sort");
    });
    th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
  }
  Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), function (table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th) {
      th.tabIndex = 0;
      th.addEventListener("click", function () { sortBy(table, th); });
      th.addEventListener("keydown", function (e) {
        if (e.key === "Enter" || e.key === " ") { e.preventDefault(); sortBy(table, th); }
      });
    });
  });
  var wanted = /^#sort=(.+)$/.exec(location.hash);
  if (wanted) {
    decodeURIComponent(wanted[1]).split(",").forEach(function (key) {
      var th = document.querySelector('table.sortable th[data-key="' + CSS.escape(key) + '"]');
      if (th) th.click();
    });
  }
})();
"""
CSP = ("default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
       f"script-src 'sha256-{base64.b64encode(hashlib.sha256(SCRIPT.encode()).digest()).decode()}'")
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


def _th(key: str, label: str, numeric: bool, extra: str = "", of: float | None = None) -> str:
    classes = " ".join(c for c in ("num" if numeric else "", extra) if c)
    out = f" <span class=\"of\">/{_num(of)}</span>" if of is not None else ""
    return f'<th data-key="{escape(key)}"' + (f' class="{classes}"' if classes else "") + f">{escape(label)}{out}</th>"


def _share_style(share: float) -> str:
    """Red (nothing earned) through yellow to green (everything)."""
    return f"background:hsl({round(120 * share)},70%,78%)"


def _heat_cell(cell: stats.ConceptShare | None) -> str:
    if cell is None or (cell.share is None and not cell.pending):
        return '<td class="h none" data-sort="">–</td>'
    waiting = f"{cell.pending} waiting for a person" if cell.pending else ""
    if cell.share is None:
        return f'<td class="h wait" data-sort="" title="{waiting}">…</td>'
    title = f"{_num(cell.earned)} of {_num(cell.possible)} points" + (f"; {waiting}" if waiting else "")
    return (f'<td class="h{" wait" if cell.pending else ""}" data-sort="{cell.share:.4f}" '
            f'style="{_share_style(cell.share)}" title="{title}">{cell.share * 100:.0f}</td>')


def students_table(rows: list[stats.StudentStat], maxima: Mapping[str, float],
                   feedback: Mapping[str, str] | None = None) -> str:
    """Every student with each column's score, pending answers, status and weakest concepts; sortable."""
    head = [_th("student", "student", False), _th("total", "total", True, of=rows[0].max_total if rows else 0),
            *[_th(c, c, True, of=m) for c, m in maxima.items()],
            _th("pending", "pending", True), _th("status", "status", False), _th("weakest", "weakest concepts", True)]
    body = []
    for row in rows:
        name = escape(row.student)
        href = (feedback or {}).get(row.student)
        who = f'<a href="{escape(quote(href))}">{name}</a>' if href else name
        weakest = row.weakest
        weak = ", ".join(f"{escape(c)} ({s * 100:.0f}&nbsp;%)" for c, s in weakest)
        cells = [f'<td data-sort="{name}">{who}</td>', f'<td class="n">{_num(row.total)}</td>',
                 *[f'<td class="n">{_num(row.scores[c])}</td>' for c in maxima],
                 f'<td class="n pending">{row.pending}</td>' if row.pending else '<td class="n" data-sort="0"></td>',
                 f'<td class="{"ok" if row.status == "ok" else "bad"}">{escape(row.status)}</td>',
                 f'<td class="weak" data-sort="{weakest[0][1]:.4f}">{weak}</td>' if weakest
                 else '<td class="weak" data-sort="">–</td>']
        body.append(f"<tr>{''.join(cells)}</tr>")
    return (f'<div class="scroll"><table class="sortable" id="students"><thead><tr>{"".join(head)}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table></div>")


def heatmap(rows: list[stats.StudentStat], concepts: list[tuple[str, stats.ConceptShare]]) -> str:
    """Students by concepts: the share of each concept's points each student earned; sortable."""
    head = [_th("student", "student", False)] + [_th(f"concept:{c}", c, True, "v") for c, _ in concepts]
    klass = '<tr class="class"><td>whole class</td>' + "".join(_heat_cell(cs) for _, cs in concepts) + "</tr>"
    body = ["<tr><td>" + escape(row.student) + "</td>" + "".join(_heat_cell(row.concepts.get(c)) for c, _ in concepts)
            + "</tr>" for row in rows]
    return (f'<div class="scroll"><table class="sortable heat" id="concepts"><thead><tr>{"".join(head)}</tr>{klass}'
            f"</thead><tbody>{''.join(body)}</tbody></table></div>")


def render(results: Mapping[str, SubmissionResult], title: str = "Broker Lab: class report",
           notes: list[str] | None = None, feedback: Mapping[str, str] | None = None) -> str:
    """The page; ``feedback`` maps a student id to the path of their feedback, relative to the page."""
    summary = stats.summary(results)
    bins = stats.distribution(results)
    tests = stats.test_pass_rates(results)
    items = stats.quiz_items(results)
    failures = stats.common_failures(results)
    concepts = stats.concept_failures(results)
    students = stats.students(results)
    parts = [f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
             f"<meta http-equiv=\"Content-Security-Policy\" content=\"{CSP}\">"
             f"<title>{escape(title)}</title><style>{CSS}</style></head><body>", f"<h1>{escape(title)}</h1>"]

    statuses = ", ".join(f"{escape(k)}: {v}" for k, v in summary.by_status.items()) or "none"
    pending = sum(s.pending for s in students)
    waiting = (f' <span class="pending">{pending} free response(s) wait for a person</span>: pending, '
               "they count in no statistic below.") if pending else ""
    parts.append(f"<p>{summary.students} students ({statuses}). Full score {_num(summary.max_total)}.{waiting}</p>")
    parts.append(_table(["", "points"], [
        ["mean", _num(summary.mean)], ["median", _num(summary.median)], ["standard deviation", _num(summary.stdev)],
        ["lowest", _num(summary.lowest)], ["highest", _num(summary.highest)]], {1}))
    for note in notes or []:
        parts.append(f'<p class="muted">{escape(note)}</p>')

    parts.append("<h2>Students</h2>")
    parts.append('<p class="muted">Lowest total first: those who need help are at the top. Click a column to '
                 "sort by it (again: the other way). Weakest concepts: the share of their points the student "
                 "earned, among the tests and questions graded. A name opens the feedback the student got.</p>")
    parts.append(students_table(students, {c: m for c, (_, m) in summary.exercise_means.items()}, feedback))

    parts.append("<h2>Students by concept</h2>")
    all_concepts = stats.concepts(results)
    if all_concepts and students:
        parts.append('<p class="muted">The share of each concept\'s points each student earned (%), the class\'s '
                     "weakest concepts first; – nothing graded (not handed in), … waiting for a person.</p>")
        parts.append(heatmap(students, all_concepts))
    else:
        parts.append('<p class="muted">No test or question names a concept.</p>')

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
        parts.append("<p class=\"muted\">Difficulty is the share of students who answered right, among the "
                     "answers graded: one waiting for a person is pending, in no statistic. "
                     "Discrimination compares the top and bottom 27 % of the class by total score "
                     "(1: only strong students get it right; 0 or below: it does not separate them; "
                     "below 0.2 deserves a look), and the point-biserial correlation of the question "
                     "with the rest of the score.</p>")
        parts.append(plot_items(items))
        parts.append(_table(["quiz", "question", "concept", "answered", "right", "pending", "difficulty",
                             "upper − lower", "point-biserial"], [
            [escape(i.quiz), escape(i.name), escape(i.concept or ""), str(i.answered), str(i.right),
             f'<span class="pending">{i.pending}</span>' if i.pending else "0",
             _pct(i.difficulty), _num(i.upper_lower), _num(i.point_biserial)] for i in items], {3, 4, 5, 6, 7, 8}))
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

    parts.append(f"<script>{SCRIPT}</script>")
    parts.append("</body></html>\n")
    return "\n".join(parts)
