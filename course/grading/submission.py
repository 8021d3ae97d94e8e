"""Submissions: reading a file a student handed in, identifying its unit, and the one cell model.

Everything here runs on the trusted side and treats the file as hostile data: its size is
bounded, it is parsed (never executed), and its nbgrader metadata is replaced by the
instructor's before anything else looks at it.

The cell model (used by grading, the verifier, the site and the tests): a cell of a course
notebook has one **role**, read from its nbgrader metadata,

* ``"setup"``  -- locked code the instructor wrote (imports, data);
* ``"answer"`` -- a cell the student fills in (``solution``; grade_id ``answer_NAME``, where NAME is
  the graded function it defines: :func:`graded_name`);
* ``"test"``   -- a graded test cell (``grade``; grade_id ``NAME`` or ``NAME_suffix``);
* ``None``     -- anything else (markdown, the student's own scratch cells).
"""

import json
from pathlib import Path

import nbformat

from course import units as course_units
from course.grading import files

MAX_SUBMISSION_BYTES = 50 * 2**20
#: Cells of a submission that are not blank (a unit's exercise has under 100): more is refused.
MAX_CELLS = 2000


class NotGradable(Exception):
    """A submission that cannot be graded; its message goes to the student."""


# ------------------------------------------------------------ the cell model
def nbgrader_meta(cell):
    """The cell's nbgrader metadata as a dict ({} when absent or malformed)."""
    meta = cell.get("metadata", {}).get("nbgrader", {}) if isinstance(cell, dict) else {}
    return meta if isinstance(meta, dict) else {}


def grade_id(cell):
    gid = nbgrader_meta(cell).get("grade_id")
    return gid if isinstance(gid, str) else None


def role(cell):
    """ "setup", "answer", "test" or None (see the module's docstring)."""
    meta = nbgrader_meta(cell)
    if cell.get("cell_type") != "code" or not meta:
        return None
    if meta.get("grade"):
        return "test"
    if meta.get("solution"):
        return "answer"
    if meta.get("locked"):
        return "setup"
    return None


def source_text(cell):
    src = cell.get("source", "")
    return src if isinstance(src, str) else "".join(src)


def cells_by_role(nb, wanted):
    """The cells of notebook dict ``nb`` whose role is ``wanted``, in order."""
    return [c for c in nb.get("cells", []) if isinstance(c, dict) and role(c) == wanted]


#: nbgrader's markers around the instructor's solution inside an answer cell.
SOLUTION_MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION")


def solved_answers(nb):
    """An instructor notebook's answer cells as a student who solved them hands them in:
    ``{grade_id: source}``, nbgrader's solution markers removed (for the benchmarks and tests)."""
    return {
        grade_id(c): "\n".join(ln for ln in source_text(c).splitlines() if ln.strip() not in SOLUTION_MARKERS)
        for c in cells_by_role(nb, "answer")
    }


def all_ids(nb):
    return {gid for c in nb.get("cells", []) if isinstance(c, dict) and (gid := grade_id(c))}


#: An answer cell's grade_id is this prefix and the name of the function it defines (the contract's NAME).
ANSWER_PREFIX = "answer_"


def graded_name(cell):
    """The graded function an instructor's (or released) answer cell defines: NAME, where its grade_id
    is ``answer_NAME`` and its source starts with ``def NAME(`` (the contract's rule), else None.

    The one rule for the verifier, the site and the tests. None for any other cell, for a grade_id
    without the prefix, and for an answer cell that defines no function (a prediction to write down).
    """
    gid = grade_id(cell) if isinstance(cell, dict) and role(cell) == "answer" else None
    name = gid[len(ANSWER_PREFIX) :] if gid and gid.startswith(ANSWER_PREFIX) else ""
    return name if name.isidentifier() and source_text(cell).startswith(f"def {name}(") else None


def graded_names(nb):
    """The graded functions of notebook dict ``nb`` (instructor's or released), in order: ``[NAME, ...]``."""
    return [name for c in cells_by_role(nb, "answer") if (name := graded_name(c))]


# ------------------------------------------------------------ reading
def read_submission(path, for_grading=False):
    """The submission at ``path`` as an nbformat v4 notebook, or NotGradable.

    Older notebook formats (v3) are converted, as Jupyter itself would open them.
    ``for_grading``: see :func:`parse_submission`.
    """
    try:  # (no link followed: the file is checked and read through one descriptor)
        raw = files.read_regular(path, MAX_SUBMISSION_BYTES)
    except files.TooBig as e:
        raise NotGradable(
            f"the file is {e.size / 2**20:.0f} MiB, over the limit of "
            f"{MAX_SUBMISSION_BYTES // 2**20} MiB (clear the outputs before submitting)"
        ) from None
    except files.Refused as e:
        raise NotGradable(f"cannot read the file: {str(e).removeprefix('cannot be read: ')}") from None
    return parse_submission(raw, for_grading)


def parse_submission(raw, for_grading=False):
    """Bytes of a notebook file -> an nbformat v4 notebook, or NotGradable.

    ``for_grading``: without what grading never reads, dropped before nbformat validates it (its
    time grows with the cells and outputs: 30 s for 250,000 empty cells): the code cells' outputs
    and the blank cells without nbgrader metadata; more than ``MAX_CELLS`` cells left: NotGradable.
    """
    if len(raw) > MAX_SUBMISSION_BYTES:
        raise NotGradable(f"the file is over the limit of {MAX_SUBMISSION_BYTES // 2**20} MiB")
    if not raw.strip():
        raise NotGradable("the file is empty, not a Jupyter notebook")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise NotGradable("the file is not UTF-8 text, so not a Jupyter notebook") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise NotGradable(f"the file is not JSON, so not a Jupyter notebook ({e.msg} at line {e.lineno})") from None
    except RecursionError:
        raise NotGradable("the file is not a Jupyter notebook (JSON nested too deeply)") from None
    if not isinstance(data, dict) or not ("cells" in data or "worksheets" in data):
        raise NotGradable("the file is JSON but not a Jupyter notebook (no cells)")
    if for_grading and isinstance(data.get("cells"), list):
        data["cells"] = _what_grading_reads(data["cells"])
    try:
        nb = nbformat.reads(json.dumps(data) if for_grading else text, as_version=4)
        nbformat.validate(nb)
    except Exception as e:  # nbformat raises several types for invalid notebooks
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise NotGradable(f"the file is not a valid Jupyter notebook: {first[:200]}") from None
    return nb


def _what_grading_reads(cells):
    """Cells (JSON) without outputs and without the blank cells that carry no nbgrader metadata."""
    kept = []
    for cell in cells:
        if isinstance(cell, dict) and isinstance(cell.get("metadata"), dict) and "source" in cell:
            source = cell["source"]
            lines = [source] if isinstance(source, str) else source if isinstance(source, list) else [0]
            blank = all(isinstance(ln, str) and not ln.strip() for ln in lines)
            if blank and not nbgrader_meta(cell) and cell.get("cell_type") in ("code", "markdown", "raw"):
                continue  # (a cell malformed otherwise stays: nbformat refuses the file, saying why)
            if cell.get("cell_type") == "code":
                cell["outputs"], cell["execution_count"] = [], None
        kept.append(cell)
        if len(kept) > MAX_CELLS:
            raise NotGradable(
                f"the notebook has more than {MAX_CELLS} cells that are not blank: delete the cells "
                "you added that your answers do not need"
            )
    return kept


# ------------------------------------------------------------ the instructor's notebooks
class Source:
    """An instructor notebook of a unit."""

    def __init__(self, unit, path):
        self.unit, self.path = unit, Path(path)
        self.name = self.path.stem
        self.nb = json.loads(self.path.read_text(encoding="utf-8"))
        self.ids = all_ids(self.nb)
        self.tests = [grade_id(c) for c in cells_by_role(self.nb, "test")]
        self.graded_names = graded_names(self.nb)


def sources(root=None):
    """Every instructor notebook of the course, as Source objects."""
    return [Source(u.id, p) for u in course_units.units(root) for p in u.source_notebooks]


def restore_metadata(nb, src):
    """Give each cell the nbgrader metadata its grade_id has in the source; drop unknown ids.

    nbgrader restores the contents of locked and test cells itself; this also
    undoes forged flags and points (an answer cell turned into a graded one),
    which would otherwise make nbgrader reject the whole notebook.
    """
    source_meta = {grade_id(c): nbgrader_meta(c) for c in src.nb["cells"] if grade_id(c)}
    for cell in nb.cells:
        if "nbgrader" not in cell.metadata:
            continue
        gid = grade_id(cell)
        if gid in source_meta:
            cell.metadata["nbgrader"] = dict(source_meta[gid])
        else:
            del cell.metadata["nbgrader"]
    return nb


#: nbclient's tag (so nbgrader's) for a code cell it does not run.
SKIP_TAG = "skip-execution"


def skip_after_last_test(nb, src):
    """Tag the code cells after the submission's last test cell so that nbgrader does not run them.

    Nothing after the last test can change a grade, and the units end with demonstrations that
    train for a second or more. A skip tag the student set elsewhere is removed: every test
    cell, and what it depends on, runs.
    """
    tests = set(src.tests)
    last = max((i for i, c in enumerate(nb.cells) if grade_id(c) in tests and c.cell_type == "code"), default=None)
    for i, cell in enumerate(nb.cells):
        tags = cell.metadata.get("tags")
        kept = [t for t in tags if t != SKIP_TAG] if isinstance(tags, list) else []
        if cell.cell_type == "code" and last is not None and i > last:
            kept.append(SKIP_TAG)
        if kept or "tags" in cell.metadata:
            cell.metadata["tags"] = kept
    return nb


def prepare_for_grading(nb, src):
    """Notebook ``nb`` (read ``for_grading``, a student copy of Source ``src``) as nbgrader gets it,
    changed in place: the instructor's metadata (:func:`restore_metadata`), one cell per grade_id
    (:func:`one_cell_per_grade_id`), the code cells after the last test not run
    (:func:`skip_after_last_test`). Returns notes for the student on what the grader changed, one
    line each (``[]`` usually)."""
    restore_metadata(nb, src)
    notes = one_cell_per_grade_id(nb)
    skip_after_last_test(nb, src)
    return notes


def one_cell_per_grade_id(nb):
    """Where cells share a grade_id (a cell copied in Jupyter, e.g. a draft kept above the fixed
    answer), the last one keeps it and is graded; the earlier ones become ordinary cells, which
    still run. nbgrader would refuse the whole notebook (a misleading "old version" message).
    Returns a note per grade_id concerned, in the student's words."""
    copies = {}
    for cell in nb.cells:
        if gid := grade_id(cell):
            copies.setdefault(gid, []).append(cell)
    notes = []
    for gid, cells in copies.items():
        if len(cells) > 1:
            for cell in cells[:-1]:
                del cell.metadata["nbgrader"]
            notes.append(
                f"{len(cells)} cells carry the grade_id {gid!r} (a copied cell?): the last of them was graded, "
                f"the {len(cells) - 1} above it ran as ordinary code"
            )
    return notes


def identify(nb, srcs, unit=None):
    """The Source that notebook ``nb`` is a student copy of (NotGradable if none)."""
    ids = all_ids(nb)
    scored = sorted(((len(ids & s.ids), s) for s in srcs), key=lambda t: -t[0])
    if not scored or scored[0][0] == 0:
        raise NotGradable(
            "not a notebook of this course: none of its cells carries the nbgrader "
            "metadata of a course exercise (was it created from exercises/?)"
        )
    best = scored[0][1]
    if unit is not None and best.unit != unit:
        raise NotGradable(f"this notebook is the exercise of unit {best.unit}, not of unit {unit}")
    return best
