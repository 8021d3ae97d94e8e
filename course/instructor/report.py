"""``course report UNIT``: what a graded class got wrong, on one page for the instructor.

Built from the gradebook (scores per student and test, :func:`course.instructor.lms.grades`) and the
messages ``course autograde`` keeps beside each autograded notebook (``course-results.json``: the
message of every failed test, the reason a submission could not be graded). The checks' messages
*name* a mistake: a check that recognises a typical wrong answer gives a hint, and the grader
records the hint's id with the failed test (``"hints"``, :mod:`course.checks.hints`). The report
counts those named mistakes by id, labelled with the hint's text, with the students who made them,
so that an instructor reads "21 students: dc_prev must be dc * f" rather than "38 % failed
lstm_backward". Results kept before hints had ids are grouped by their text instead (what follows
``hint:`` or ``it looks like``, numbers masked).

The page (:func:`write_report`) is one self-contained HTML file: figures are PNGs embedded as data
URLs (matplotlib), no script runs and nothing is loaded (a Content-Security-Policy forbids both).
Every string from a submission (messages, student ids) is hostile data: escaped, bounded, control
characters made visible. It is written for the instructor only (mode 0600, under ``reports/`` in
the course directory, never into ``feedback/`` or the exchange) and holds no test's source.
``--json`` gives the same figures as data (:func:`class_report`).
"""

import base64
import io
import re
import string
from collections import Counter, defaultdict
from pathlib import Path

from course.instructor import html_page
from course.instructor.feedback import RESULTS_FILE, read_json_object

#: How a check names a mistake in its message (course.checks._common.close, course.testing.hint_for).
_NAMED = re.compile(r"(?:\bhint: |; it looks like )(.+)", re.S)
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:e[-+]?\d+)?")


# ---------------------------------------------------------------- reading what autograde kept
def named_mistake(message):
    """The mistake a check's message names (its ``hint:`` or ``it looks like`` part), numbers masked, or None.

    >>> named_mistake("lstm_backward: dc_prev does not match ...; it looks like the factor f is missing")
    'the factor f is missing'
    """
    if not isinstance(message, str):
        return None
    m = _NAMED.search(message)
    if not m:
        return None
    text = m.group(1).strip().split("\n")[0]
    # a backward tested with a wrong forward quotes the forward's message: "...); fix it first: ..."
    forward = "; fix it first" in text
    text = text.split("; fix it first")[0].removesuffix(")" if forward else "").rstrip(".")
    text = _NUMBER.sub("#", text)[:300]
    return (text + " (in the forward, found by this test)" if forward else text) or None


#: The hint a backward gives when its forward is wrong: the forward's own hints, given with it, are the mistake.
FORWARD_WRONG = "common.forward_wrong"
#: Where a test's hints are the forward's, found by this test, the label says so.
IN_THE_FORWARD = " (in the forward, found by this test)"


def hint_label(hint_id):
    """The text of the hint ``hint_id``, each ``{field}`` (what differs between students) shown as "…";
    the id itself when the course has no such hint."""
    from course.checks.hints import all_hints

    text = all_hints().get(hint_id)
    if text is None:
        return hint_id
    return "".join(lit + ("…" if name is not None else "") for lit, name, _, _ in string.Formatter().parse(text))


def mistakes_of(test):
    """[(label, hint id or None)]: the mistakes a failed test's kept result names.

    By the hint ids the grader recorded; for a result kept before hints had ids, by its message's text
    (:func:`named_mistake`, id None). A backward that found its forward wrong names the forward's hints.
    """
    ids = test.get("hints")
    ids = [i for i in ids[:20] if isinstance(i, str)] if isinstance(ids, list) else []
    if not ids:
        text = named_mistake(test.get("error"))
        return [(text, None)] if text else []
    forward = FORWARD_WRONG in ids and len(ids) > 1
    return [
        (hint_label(i)[:300] + (IN_THE_FORWARD if forward else ""), i)
        for i in ids
        if not (forward and i == FORWARD_WRONG)
    ]


def _results(root, unit, students):
    """{student: course-results.json of their autograded submission} (missing: {})."""
    base = Path(root) / "autograded"
    return {s: read_json_object(base / s / unit / RESULTS_FILE) for s in students}


# ---------------------------------------------------------------- the figures, as data
def class_report(root, unit, rows):
    """The report of ``unit`` as a JSON-able dict, from ``course.instructor.lms.grades()`` ``rows`` (all units).

    Keys: ``unit``, ``students``, ``scores`` {student: total}, ``max_score``, ``histogram`` (the
    scores' distribution), ``tests`` [{grade_id, max_score, passed, attempted, pass_rate}],
    ``mistakes`` [{test, mistake, hint, count, students}] most frequent first (``hint``: the id, or None
    for a mistake named by its text only), ``not_graded``
    [{student, reason}], ``units`` [{unit, students, mean, max_score}] (every graded unit).
    """
    mine = [r for r in rows if r["unit"] == unit]
    students = sorted(r["student"] for r in mine)
    results = _results(root, unit, students)
    max_score = max((float(r["max_score"] or 0) for r in mine), default=0.0)
    tests = sorted({k for r in mine for k in r} - {"student", "unit", "total", "max_score"})
    test_max = {}
    for res in results.values():
        for t in res.get("tests", []) if isinstance(res.get("tests"), list) else []:
            if isinstance(t, dict) and isinstance(t.get("grade_id"), str):
                test_max[t["grade_id"]] = max(test_max.get(t["grade_id"], 0.0), float(t.get("max_score") or 0))
    per_test = []
    for gid in tests:
        scores = [float(r[gid] or 0) for r in mine if r.get(gid) is not None]
        top = test_max.get(gid) or max(scores, default=0.0)
        passed = sum(1 for s in scores if top and s >= top)
        per_test.append(
            {
                "grade_id": gid,
                "max_score": top,
                "passed": passed,
                "attempted": len(scores),
                "pass_rate": passed / len(scores) if scores else 0.0,
            }
        )
    mistakes, not_graded = defaultdict(set), []
    for student, res in results.items():
        if isinstance(res.get("error"), str) and res["error"]:
            not_graded.append({"student": student, "reason": res["error"][:500]})
            continue
        for t in res.get("tests", []) if isinstance(res.get("tests"), list) else []:
            for label, hint_id in mistakes_of(t) if isinstance(t, dict) else ():
                mistakes[(str(t.get("grade_id"))[:100], label, hint_id or "")].add(student)
    ranked = sorted(mistakes.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    by_unit = defaultdict(list)
    for r in rows:
        by_unit[r["unit"]].append(r)
    return {
        "unit": unit,
        "students": len(students),
        "scores": {r["student"]: float(r["total"] or 0) for r in mine},
        "max_score": max_score,
        "histogram": dict(sorted(Counter(float(r["total"] or 0) for r in mine).items())),
        "tests": per_test,
        "mistakes": [
            {"test": test, "mistake": text, "hint": hint_id or None, "count": len(who), "students": sorted(who)}
            for (test, text, hint_id), who in ranked
        ],
        "not_graded": sorted(not_graded, key=lambda x: x["student"]),
        "units": [
            {
                "unit": u,
                "students": len(rs),
                "mean": sum(float(r["total"] or 0) for r in rs) / len(rs),
                "max_score": max(float(r["max_score"] or 0) for r in rs),
            }
            for u, rs in sorted(by_unit.items())
        ],
    }


# ---------------------------------------------------------------- the page
def _png(fig):
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _figures(report):
    """{name: PNG data URL}: the score histogram, the pass rate per test, the units compared."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figs = {}
    fig, ax = plt.subplots(figsize=(6, 2.8))
    scores = list(report["scores"].values())
    top = report["max_score"] or 1.0
    bins = int(top) + 1 if top <= 20 else 20  # one bar per whole point for the course's units (5 to 20 points)
    ax.hist(scores, bins=bins, range=(-0.5, top + 0.5), color="tab:blue", edgecolor="white")
    ax.set_xlabel(f"score (of {top:g})")
    ax.set_ylabel("students")
    ax.set_title(f"{report['unit']}: scores of {report['students']} students")
    figs["scores"] = _png(fig)

    tests = report["tests"]
    fig, ax = plt.subplots(figsize=(6, 0.35 * max(3, len(tests)) + 0.8))
    ax.barh([t["grade_id"] for t in tests][::-1], [100 * t["pass_rate"] for t in tests][::-1], color="tab:green")
    ax.set_xlim(0, 100)
    ax.set_xlabel("students with full marks on the test (%)")
    figs["tests"] = _png(fig)

    units = report["units"]
    if len(units) > 1:
        fig, ax = plt.subplots(figsize=(6, 0.35 * len(units) + 0.8))
        ax.barh(
            [u["unit"] for u in units][::-1],
            [100 * u["mean"] / (u["max_score"] or 1) for u in units][::-1],
            color=["tab:orange" if u["unit"] == report["unit"] else "tab:gray" for u in units][::-1],
        )
        ax.set_xlim(0, 100)
        ax.set_xlabel("mean score (% of the unit's maximum)")
        figs["units"] = _png(fig)
    return figs


STYLE = """
body { font-family: sans-serif; max-width: 64em; margin: 2em auto; padding: 0 1em; }
table { border-collapse: collapse; width: 100%; margin-bottom: 1.5em; }
th, td { border: 1px solid #ccc; padding: .3em .5em; text-align: left; vertical-align: top; }
td.num { text-align: right; } .who { font-size: 90%; color: #444; }
"""
BODY = """<h1>Class report: {unit}</h1>
<p>{students} graded submission(s); mean {mean:.2f} of {max_score:g}. For the instructor only: student
messages are shown as text, no test's source is included.</p>
<img alt="score distribution" src="{fig_scores}">
<h2>Pass rate per test</h2>
<img alt="pass rate per test" src="{fig_tests}">
<table><tr><th>test</th><th>full marks</th><th>of</th><th>pass rate</th></tr>
{test_rows}</table>
<h2>The mistakes the checks named</h2>
<p>A failed test's message names a mistake when the check recognised a typical wrong answer;
each mistake is counted by its hint's id (… stands for what differs between students; results kept
before hints had ids are counted by their text, numbers replaced by #).</p>
<table><tr><th>students</th><th>test</th><th>mistake</th><th>who</th></tr>
{mistake_rows}</table>
<h2>Could not be graded</h2>
{not_graded}
{units}
"""


def _e(value, limit=300):
    return html_page.text(value, limit)


def render(report):
    """The report's HTML page (every string escaped; figures embedded)."""
    figs = _figures(report)
    scores = list(report["scores"].values())
    tests = "\n".join(
        f"<tr><td><code>{_e(t['grade_id'], 100)}</code></td><td class=num>{t['passed']}</td>"
        f"<td class=num>{t['attempted']}</td><td class=num>{100 * t['pass_rate']:.0f} %</td></tr>"
        for t in report["tests"]
    )
    mistakes = (
        "\n".join(
            f"<tr><td class=num>{m['count']}</td><td><code>{_e(m['test'], 100)}</code></td><td>{_e(m['mistake'])}</td>"
            f"<td class=who>{_e(', '.join(m['students']), 2000)}</td></tr>"
            for m in report["mistakes"][:50]
        )
        or "<tr><td colspan=4>none: no failed test named a mistake</td></tr>"
    )
    not_graded = (
        "<table><tr><th>student</th><th>reason</th></tr>"
        + "".join(
            f"<tr><td>{_e(x['student'], 64)}</td><td>{_e(x['reason'], 500)}</td></tr>" for x in report["not_graded"]
        )
        + "</table>"
        if report["not_graded"]
        else "<p>every submission was graded</p>"
    )
    units = f'<h2>The units compared</h2>\n<img alt="units compared" src="{figs["units"]}">' if "units" in figs else ""
    body = BODY.format(
        unit=_e(report["unit"], 100),
        students=report["students"],
        mean=sum(scores) / len(scores) if scores else 0.0,
        max_score=report["max_score"],
        fig_scores=figs["scores"],
        fig_tests=figs["tests"],
        test_rows=tests,
        mistake_rows=mistakes,
        not_graded=not_graded,
        units=units,
    )
    return html_page.page(f"Class report: {report['unit']}", STYLE, body, images=True)


def write_report(root, unit, rows, out=None):
    """Write ``reports/report-<unit>.html`` (or ``out``) in the course directory; returns (path, report dict)."""
    report = class_report(root, unit, rows)
    path = html_page.write_private(out or Path(root) / "reports" / f"report-{unit}.html", render(report))
    return path, report
