"""Numbers a lecture's prose takes from a computation, and whether the computation still says them.

An author marks them in the markdown cell that states them, with an HTML comment (invisible in
Jupyter and on the website)::

    the gradient now grows by 1.103 per step <!-- computed: growth=1.103 -->

The comment lists numbers separated by spaces. ``growth=1.103`` also names a word that precedes the
number on the same line of the output (use it when the bare number could match something else).
A number ending in ``%`` is also matched as a fraction (``87%`` by ``0.871``).

A marked number must appear in the text of its cell outside the comment (so a sentence edited
without its list, or the reverse, fails), and be *supported*: printed by one of the notebook's
outputs, or written in a results file it reads (``experiments/results/NAME`` whose NAME its code
mentions). The prose may round: ``0.75`` is supported by a printed ``0.7512``, not by ``0.74``.
``lectures/conftest.py`` runs the check when nbval executes a lecture; ``tests/project/test_prose_numbers.py``
tests it.
"""

import re
from dataclasses import dataclass
from pathlib import Path

MARK = re.compile(r"<!--\s*computed:(.*?)-->", re.S)
# 4,545 and 0.1664 and -3e-05; a second pass without thousands groups splits JSON's "1,234,5" lists too
_NUMBER = re.compile(r"(?<![\w.])-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][-+]?\d+)?")
_PLAIN_NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")


@dataclass(frozen=True)
class Mark:
    cell: int  # index of the markdown cell in the notebook
    text: str  # as written in the comment: "1.103", "growth=1.103", "87%"
    label: str  # "" or the word that must precede the number in the output
    number: str  # "1.103", "87%"

    def __str__(self):
        return f"cell {self.cell}: {self.text}"


def marks(nb):
    """Every number marked in the markdown cells of ``nb`` (an nbformat notebook), in order."""
    found = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "markdown":
            continue
        for comment in MARK.finditer(cell.source):
            for item in comment.group(1).split():
                label, _, number = item.rpartition("=")
                found.append(Mark(index, item, label, number))
    return found


def prose_of(cell_source):
    """A markdown cell's text without its marking comments."""
    return MARK.sub(" ", cell_source)


def missing_from_prose(nb):
    """The marks whose number the prose of their own cell does not state (a sentence changed, not its list)."""
    bad = []
    for mark in marks(nb):
        prose = prose_of(nb.cells[mark.cell].source)
        if not re.search(rf"(?<![\w.]){re.escape(mark.number)}(?![\d])", prose):
            bad.append(mark)
    return bad


def output_texts(outputs):
    """The text of a list of nbformat outputs: streams, plain text, HTML tables (not images)."""
    texts = []
    for out in outputs:
        if "text" in out:
            texts.append(out["text"] if isinstance(out["text"], str) else "".join(out["text"]))
        data = out.get("data", {})
        for kind in ("text/plain", "text/html", "text/markdown"):
            if kind in data:
                value = data[kind]
                texts.append(value if isinstance(value, str) else "".join(value))
    return texts


def loaded_results(nb, results_dir):
    """The text of each file of ``results_dir`` whose name the notebook's code mentions."""
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    texts = []
    for path in sorted(Path(results_dir).glob("*.json")):
        if re.search(rf"\b{re.escape(path.stem)}\b", code):
            texts.append(path.read_text(encoding="utf-8"))
    return texts


def _decimals(number):
    return len(number.split(".")[1]) if "." in number else 0


def _targets(number):
    """(value, decimals) pairs that a printed number may round to: 87% is 87 or 0.87."""
    if number.endswith("%"):
        bare = number[:-1].replace(",", "")
        return [(float(bare), _decimals(bare)), (float(bare) / 100, _decimals(bare) + 2)]
    bare = number.replace(",", "")
    return [(float(bare), _decimals(bare))]


def _candidates(text, label):
    """The numbers of ``text`` (after ``label`` on the same line when there is one)."""
    if not label:
        return {m.group() for pattern in (_NUMBER, _PLAIN_NUMBER) for m in pattern.finditer(text)}
    found = set()
    for line in text.splitlines():
        for at in re.finditer(re.escape(label), line, re.I):
            after = line[at.end() : at.end() + 60]
            found |= {m.group() for pattern in (_NUMBER, _PLAIN_NUMBER) for m in pattern.finditer(after)}
    return found


def supported(mark, texts):
    """Whether one of ``texts`` prints ``mark``'s number, to the precision the prose writes it."""
    printed = set().union(*(_candidates(t, mark.label) for t in texts)) if texts else set()
    for value, decimals in _targets(mark.number):
        for p in printed:
            try:
                x = float(p.replace(",", ""))
            except ValueError:
                continue
            # the prose rounds what was printed: |printed - stated| at most half a unit of its last digit
            if _decimals(p.replace(",", "")) >= decimals and abs(x - value) <= 0.5 * 10**-decimals + 1e-12:
                return True
    return False


def stale(nb, output_text, results_dir):
    """The marks of ``nb`` that its outputs (``output_text``, a list of strings) and results files do not support."""
    texts = list(output_text) + loaded_results(nb, results_dir)
    return [m for m in marks(nb) if not supported(m, texts)]


def report(path, missing, unsupported):
    """One message naming what to fix, or "" when nothing is."""
    lines = []
    if missing:
        lines.append(f"{path}: marked numbers that their cell's prose no longer states (update the comment):")
        lines += [f"  {m}" for m in missing]
    if unsupported:
        lines.append(
            f"{path}: numbers stated in the prose that no output and no results file it reads prints "
            "(a stale sentence? rerun and update the prose and its <!-- computed: --> comment):"
        )
        lines += [f"  {m}" for m in unsupported]
    return "\n".join(lines)
