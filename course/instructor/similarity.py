"""``course similarity UNIT``: pairs of submissions whose answers are suspiciously alike, for review.

Never a verdict and never a penalty: a list of pairs an instructor may want to read side by side.
Two independent signals:

1. **Code fingerprints** (copydetect, MIT: MOSS's winnowing, Schleimer, Wilkerson & Aiken 2003).
   Only what students wrote is compared: each submission's answer cells, minus the released stub's
   lines (the signature, the docstring, ``# YOUR CODE HERE``). copydetect's tokenizer replaces every
   name by ``V`` and every string by ``S`` and drops comments and whitespace, so renamed variables,
   changed comments and layout do not hide a copy; fingerprints are sets of k-grams, so reordered
   statements keep most of them; the score is the *larger* of the two shares of tokens that match
   (a copy padded with dead code still matches all of the original). Fingerprints that many
   students share (at least :data:`COMMON_SHARE` of the class) are discounted as boilerplate: a
   short, canonical correct answer, which independent students write alike, is not evidence.
2. **Identical wrong results**: the same failed test with the same message holding the same wrong
   numbers (``got 0.4172``) is rare by chance; shared by two students, it is reported whatever
   their code looks like.

The threshold (:data:`THRESHOLD`) and the fingerprint sizes were chosen on the evaluation set of
``bench/similarity_eval.py`` (independent correct and wrong implementations and disguised copies of
units 4-8; its docstring gives the set and the measured precision and recall).

The report (:func:`write_report`) is for the instructor only: mode 0600 under ``reports/``, inert
HTML (no script, nothing loaded), every line of a submission escaped.
"""

import html
import io
import re
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path

import numpy as np

from course.grading.submission import cells_by_role, grade_id, source_text
from course.instructor import html_page
from course.instructor.feedback import RESULTS_FILE, read_json_object

#: copydetect's noise threshold k (characters of tokenized code) and winnowing guarantee.
NOISE, GUARANTEE = 20, 25
#: A pair is flagged at this score (the larger share of matching tokens) and at least MIN_OVERLAP tokens.
THRESHOLD = 0.6
MIN_OVERLAP = 60
#: Fingerprints present in at least this share of the class and at least COMMON_MIN students are
#: boilerplate (MOSS ignores those in more than 10 files by default: a ring of copies stays visible).
COMMON_SHARE, COMMON_MIN = 0.3, 10
_WRONG_NUMBER = re.compile(r"\d\.\d{3,}|\d{4,}")


@dataclass
class Submission:
    student: str
    code: str  # the answer cells, the stub's lines removed
    wrong: set = field(default_factory=set)  # (test, message) of failed tests with precise numbers


@dataclass
class Pair:
    a: str
    b: str
    score: float  # the larger share of matching tokens, 0..1
    overlap: int  # matching tokens
    shared_wrong: list  # (test, message) both failed with identical numbers
    slices: tuple = ()  # copydetect's slices of each code, for highlighting

    @property
    def flagged(self):
        return (self.score >= THRESHOLD and self.overlap >= MIN_OVERLAP) or bool(self.shared_wrong)


# ---------------------------------------------------------------- what students wrote
def answer_code(nb, stub_lines):
    """The code of ``nb``'s answer cells in order, without the lines the stub gave (nor blank lines)."""
    parts = []
    for cell in cells_by_role(nb, "answer"):
        given = stub_lines.get(grade_id(cell), set())
        lines = [ln for ln in source_text(cell).splitlines() if ln.strip() and ln.strip() not in given]
        parts.append("\n".join(lines))
    return "\n".join(p for p in parts if p) + "\n"


def wrong_results(results):
    """(test, message) of each failed test whose message holds a precise number (an autograde result dict)."""
    out = set()
    for t in results.get("tests", []) if isinstance(results.get("tests"), list) else []:
        if isinstance(t, dict) and isinstance(t.get("error"), str) and t.get("score", 0) < t.get("max_score", 0):
            if _WRONG_NUMBER.search(t["error"]):
                out.add((str(t.get("grade_id"))[:100], t["error"][:500]))
    return out


# ---------------------------------------------------------------- comparing
def _fingerprint(code, boilerplate=()):
    from copydetect import CodeFingerprint

    return CodeFingerprint(
        "answer.py",
        NOISE,
        GUARANTEE - NOISE + 1,
        boilerplate=list(boilerplate),
        language="python",
        fp=io.StringIO(code),
    )


def _common_count(n):
    """In how many of ``n`` submissions a fingerprint must be to count as boilerplate."""
    return max(COMMON_MIN, int(np.ceil(COMMON_SHARE * n)))


def compare(submissions):
    """Every pair of ``submissions`` [Submission], scored; sorted from the most to the least similar."""
    from copydetect import compare_files

    raw = [_fingerprint(s.code) for s in submissions]
    counts = {}
    for fp in raw:
        for h in fp.hashes:
            counts[h] = counts.get(h, 0) + 1
    common = _common_count(len(submissions))
    boilerplate = np.array(sorted(h for h, n in counts.items() if n >= common), dtype=np.int64)
    fps = [_fingerprint(s.code, boilerplate) for s in submissions] if len(boilerplate) else raw
    pairs = []
    for (i, a), (j, b) in combinations(enumerate(submissions), 2):
        overlap, (s1, s2), slices = compare_files(fps[i], fps[j])
        shared = sorted(a.wrong & b.wrong)
        pairs.append(Pair(a.student, b.student, float(max(s1, s2)), int(overlap), shared, slices))
    return sorted(pairs, key=lambda p: (-p.flagged, -p.score, p.a, p.b))


# ---------------------------------------------------------------- the report
STYLE = """
body { font-family: sans-serif; margin: 2em; } pre { font-size: 85%; white-space: pre-wrap; margin: 0; }
.pair { display: grid; grid-template-columns: 1fr 1fr; gap: 1em; border-top: 2px solid #888; padding: .8em 0; }
.hl { background: #ffd54f; } table { border-collapse: collapse; }
td, th { border: 1px solid #ccc; padding: .2em .5em; }
"""
BODY = """<h1>Similar submissions: {unit}</h1>
<p>{n} submissions, {pairs} pairs compared, <b>{flagged} flagged</b>. A flag asks for a look, nothing more:
the score is the larger share of one submission's code (answer cells, the stub's lines removed) whose
fingerprints appear in the other's; names, comments and layout are ignored, and fingerprints shared by
{common} students or more are discounted. Flagged: score at least {threshold:.0%} over at least
{min_overlap} tokens, or the same wrong numbers in a failed test. Highlighted: the matching code.</p>
<table><tr><th>students</th><th>score</th><th>matching tokens</th><th>same wrong results</th></tr>
{rows}</table>
{details}
"""


def _e(value, limit=200):
    return html_page.text(value, limit)


def _highlighted(code, slices):
    from copydetect.utils import highlight_overlap

    if len(slices) == 0 or np.size(slices) == 0:
        return html.escape(code)
    text, _ = highlight_overlap(code, slices, '<span class="hl">', "</span>", escape_html=True)
    return text


def render(unit, submissions, pairs):
    flagged = [p for p in pairs if p.flagged]
    code = {s.student: s.code for s in submissions}
    rows = (
        "\n".join(
            f"<tr><td>{_e(p.a, 64)} &amp; {_e(p.b, 64)}</td><td>{p.score:.0%}</td><td>{p.overlap}</td>"
            f"<td>{len(p.shared_wrong)}</td></tr>"
            for p in flagged
        )
        or "<tr><td colspan=4>no pair reached the threshold</td></tr>"
    )
    details = []
    for p in flagged:
        wrong = "".join(f"<li><code>{_e(t, 100)}</code>: {_e(m, 500)}</li>" for t, m in p.shared_wrong)
        sides = []
        for who, sl in ((p.a, p.slices[0] if p.slices else ()), (p.b, p.slices[1] if p.slices else ())):
            sides.append(f"<div><h3>{_e(who, 64)}</h3><pre>{_highlighted(code[who], np.asarray(sl))}</pre></div>")
        details.append(
            f"<h2>{_e(p.a, 64)} &amp; {_e(p.b, 64)}: {p.score:.0%}</h2>"
            + (f"<p>Same wrong results:</p><ul>{wrong}</ul>" if wrong else "")
            + f'<div class="pair">{"".join(sides)}</div>'
        )
    body = BODY.format(
        unit=_e(unit, 100),
        n=len(submissions),
        pairs=len(pairs),
        flagged=len(flagged),
        common=_common_count(len(submissions)),
        threshold=THRESHOLD,
        min_overlap=MIN_OVERLAP,
        rows=rows,
        details="\n".join(details),
    )
    return html_page.page(f"Similar submissions: {unit}", STYLE, body)


def as_json(pairs):
    return [
        {
            "a": p.a,
            "b": p.b,
            "score": round(p.score, 4),
            "overlap": p.overlap,
            "flagged": p.flagged,
            "same_wrong_results": [list(x) for x in p.shared_wrong],
        }
        for p in pairs
    ]


# ---------------------------------------------------------------- a unit of a course directory
def stub_of(source_nb):
    """The lines a released stub gives in each answer cell: the instructor's source outside its solution
    regions, and nbgrader's stub lines ({grade_id: set of stripped lines})."""
    stub = {}
    for cell in cells_by_role(source_nb, "answer"):
        lines, inside = {"# YOUR CODE HERE", "raise NotImplementedError()"}, False
        for line in source_text(cell).splitlines():
            if line.strip() == "### BEGIN SOLUTION":
                inside = True
            elif line.strip() == "### END SOLUTION":
                inside = False
            elif not inside:
                lines.add(line.strip())
        stub[grade_id(cell)] = lines
    return stub


def unit_similarity(root, unit):
    """(submissions, pairs) of every submission of ``unit`` in the course directory ``root``."""
    import json

    from course.grading.submission import NotGradable, read_submission
    from course.instructor.course_dir import require_unit
    from course.instructor.intake import find_submissions

    source = require_unit(unit, root).source_notebooks[0]  # a mistyped unit: one line naming the units
    stub = stub_of(json.loads(source.read_text(encoding="utf-8")))
    notebooks = {}
    for student, path, problem in find_submissions(root, unit, source.stem):
        if problem is None and path is not None:
            try:
                notebooks[student] = read_submission(path)
            except NotGradable:
                continue
    base = Path(root) / "autograded"
    subs = [
        Submission(
            student, answer_code(nb, stub), wrong_results(read_json_object(base / student / unit / RESULTS_FILE))
        )
        for student, nb in sorted(notebooks.items())
    ]
    return subs, compare(subs)


def write_report(root, unit, out=None):
    """Write ``reports/similarity-<unit>.html`` (or ``out``), mode 0600; returns (path, pairs)."""
    subs, pairs = unit_similarity(root, unit)
    path = html_page.write_private(out or Path(root) / "reports" / f"similarity-{unit}.html", render(unit, subs, pairs))
    return path, pairs
