"""Grading a student notebook with nbgrader's autograder.

The one grading path of the course: ``course grade`` (any notebooks, any
units) goes through :func:`grade_notebooks`, which for each notebook

1. reads and validates it, and finds its unit from the nbgrader grade_ids
   of its cells (an unreadable or foreign notebook gets an error result);
2. builds a throw-away nbgrader course for it: the unit's gradebook, made
   once per unit by ``generate_assignment`` from the instructor source,
   is copied next to (not inside) a fresh course folder, so the student's
   code, which runs with the course folder as its working directory,
   finds neither the solutions nor the gradebook by relative path;
3. runs nbgrader's ``autograde`` (locked and test cells restored from the
   gradebook, hidden tests included, a per-cell timeout) and reads the
   scores back from the gradebook and the error of each failed test from
   the autograded notebook.

The result of a notebook is a dict, as ../shared/CURRICULUM.md specifies:
``{"notebook", "assignment", "score", "max_score", "tests": [{"grade_id",
"score", "max_score", "error"}]}`` plus ``"error"`` when it could not be
graded.
"""

import json
import logging
import os
import shutil
import sys
import tempfile
import warnings
from pathlib import Path

import nbformat

from course import units as course_units
from course.units import graded_ids

STUDENT = "student"
MAX_ERROR_CHARS = 500


class NotGradable(Exception):
    """A submission that cannot be graded; its message goes to the student."""


def _all_ids(nb):
    ids = set()
    for cell in nb.get("cells", []):
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if isinstance(meta, dict) and isinstance(meta.get("grade_id"), str):
            ids.add(meta["grade_id"])
    return ids


def read_submission(path):
    """The submission at ``path`` as an nbformat v4 notebook, or NotGradable."""
    try:
        raw = Path(path).read_bytes()
    except OSError as e:
        raise NotGradable(f"cannot read the file: {e.strerror}") from None
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
    if not isinstance(data, dict) or "cells" not in data:
        raise NotGradable("the file is JSON but not a Jupyter notebook (no cells)")
    try:
        nb = nbformat.reads(text, as_version=4)
        nbformat.validate(nb)
    except Exception as e:  # nbformat raises several types for invalid notebooks
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise NotGradable(f"the file is not a valid Jupyter notebook: {first[:200]}") from None
    return nb


class Source:
    """An instructor notebook of a unit, and its gradebook made once by nbgrader."""

    def __init__(self, unit, path):
        self.unit, self.path = unit, Path(path)
        self.name = self.path.stem
        nb = json.loads(self.path.read_text(encoding="utf-8"))
        self.ids = _all_ids(nb)
        self.tests = [c["metadata"]["nbgrader"]["grade_id"] for c in nb["cells"]
                      if c.get("metadata", {}).get("nbgrader", {}).get("grade")]
        self._db = None

    def gradebook(self, workdir):
        """Path of a gradebook holding this unit (made on first use)."""
        if self._db is None:
            base = Path(tempfile.mkdtemp(prefix=f"src-{self.unit}-", dir=workdir))
            (base / "source" / self.unit).mkdir(parents=True)
            shutil.copy(self.path, base / "source" / self.unit / self.path.name)
            api = _api(base, base / "gradebook.db", source=base / "source")
            result = api.generate_assignment(self.unit)
            if not result.get("success"):
                raise RuntimeError(f"nbgrader generate_assignment failed for {self.unit}:\n{result.get('error')}")
            self._db = base / "gradebook.db"
        return self._db


def sources(root=None):
    """Every instructor notebook of the course, as Source objects."""
    return [Source(u.id, p) for u in course_units.units(root) for p in u.source_notebooks]


def identify(nb, srcs, unit=None):
    """The Source that notebook ``nb`` is a student copy of (NotGradable if none)."""
    ids = _all_ids(nb)
    scored = sorted(((len(ids & s.ids), s) for s in srcs), key=lambda t: -t[0])
    if not scored or scored[0][0] == 0:
        raise NotGradable("not a notebook of this course: none of its cells carries the nbgrader "
                          "metadata of a course exercise (was it created from exercises/?)")
    best = scored[0][1]
    if unit is not None and best.unit != unit:
        raise NotGradable(f"this notebook is the exercise of unit {best.unit}, not of unit {unit}")
    return best


def _api(root, db, source=None, timeout=None):
    from nbgrader.apps.api import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config import Config

    cfg = Config()
    cfg.CourseDirectory.root = str(root)
    cfg.CourseDirectory.db_url = f"sqlite:///{db}"
    cfg.CourseDirectory.include = ["*.ipynb"]
    if source is not None:
        cfg.CourseDirectory.source_directory = str(source)
    (Path(root) / "exchange").mkdir(parents=True, exist_ok=True)  # unused, but nbgrader checks it
    cfg.Exchange.root = str(Path(root) / "exchange")
    if timeout is not None:
        cfg.Execute.timeout = int(timeout)
    cfg.NbGraderAPI.log_level = logging.ERROR
    return NbGraderAPI(coursedir=CourseDirectory(config=cfg), config=cfg)


def _cell_error(cell):
    """A one-line reason why a graded cell failed, from its outputs."""
    for out in cell.get("outputs", []):
        if out.get("output_type") == "error":
            ename, evalue = out.get("ename", "Error"), out.get("evalue", "")
            if ename == "NotImplementedError" and not evalue:
                evalue = "not implemented yet (replace `raise NotImplementedError()` with your code)"
            msg = f"{ename}: {evalue}".strip()
            return msg[:MAX_ERROR_CHARS]
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream" and out.get("name") == "stderr":
            text = "".join(out.get("text", "")).strip().splitlines()
            return ("the test wrote to stderr (a warning?): " + (text[-1] if text else ""))[:MAX_ERROR_CHARS]
    return None


def _short(error_text):
    lines = [ln for ln in (error_text or "").strip().splitlines() if ln.strip()]
    for ln in reversed(lines):
        if "Error" in ln or "Exception" in ln or "Timeout" in ln:
            return ln.strip()[:MAX_ERROR_CHARS]
    return (lines[-1].strip() if lines else "nbgrader could not grade the notebook")[:MAX_ERROR_CHARS]


def autograde_one(nb, src, workdir, timeout=60):
    """Grade notebook ``nb`` (nbformat) against Source ``src``; returns (score, max_score, tests, error)."""
    from nbgrader.api import Gradebook

    base = Path(tempfile.mkdtemp(prefix="grade-", dir=workdir))
    private, course = base / "private", base / "course"
    (private / "source" / src.unit).mkdir(parents=True)
    db = private / "gradebook.db"
    shutil.copy(src.gradebook(workdir), db)
    submitted = course / "submitted" / STUDENT / src.unit
    submitted.mkdir(parents=True)
    nbformat.write(nb, str(submitted / f"{src.name}.ipynb"))

    result = _api(course, db, source=private / "source", timeout=timeout).autograde(src.unit, STUDENT)
    error = None if result.get("success") else _short(result.get("error") or result.get("log"))

    cells = {}
    graded_path = course / "autograded" / STUDENT / src.unit / f"{src.name}.ipynb"
    if graded_path.exists():
        graded = json.loads(graded_path.read_text(encoding="utf-8"))
        for cell in graded.get("cells", []):
            gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
            if gid:
                cells[gid] = cell

    tests = []
    with Gradebook(f"sqlite:///{db}") as gb:
        grades = {}
        try:
            for g in gb.find_submission_notebook(src.name, src.unit, STUDENT).grades:
                grades[g.name] = g
        except Exception:  # no submission recorded: autograde failed before it
            pass
        maxes = {c.name: c.max_score for c in gb.find_notebook(src.name, src.unit).grade_cells}
        for gid in src.tests:
            g = grades.get(gid)
            score = float(g.auto_score or 0.0) if (g is not None and error is None) else 0.0
            why = None
            if gid not in cells:
                why = "this test cell is missing from the submission (was it deleted?)"
            elif score < maxes[gid]:
                why = _cell_error(cells[gid]) or error or "the test did not pass"
            if error and not why:
                why = error
            tests.append({"grade_id": gid, "score": score, "max_score": float(maxes[gid]), "error": why})
    shutil.rmtree(base, ignore_errors=True)
    total = sum(t["score"] for t in tests)
    return total, float(sum(maxes[g] for g in src.tests)), tests, error


def _env_for_nbgrader():
    # nbgrader runs the `alembic` executable from PATH when it makes a gradebook
    bindir = str(Path(sys.executable).parent)
    if bindir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")


def grade_notebooks(paths, timeout=60, unit=None, root=None, progress=None):
    """Grade each notebook in ``paths``; returns one result dict per notebook, in order.

    ``unit`` (e.g. "06_lstm") rejects notebooks of other units; ``timeout`` is
    the per-cell execution limit in seconds; ``progress`` wraps the iterable
    (e.g. tqdm). Never raises for a bad notebook: its result carries an error.
    """
    _env_for_nbgrader()
    warnings.filterwarnings("ignore", module="nbgrader")  # SQLAlchemy chatter inside nbgrader's gradebook
    srcs = sources(root)
    if unit is not None and unit not in {s.unit for s in srcs}:
        raise ValueError(f"unknown unit {unit!r}; units: {', '.join(sorted({s.unit for s in srcs}))}")
    results = []
    with tempfile.TemporaryDirectory(prefix="course-grade-") as workdir:
        for path in progress(paths) if progress else paths:
            res = {"notebook": str(path), "assignment": None, "score": 0.0, "max_score": 0.0, "tests": []}
            try:
                nb = read_submission(path)
                src = identify(nb, srcs, unit)
                res["assignment"] = src.unit
                res["score"], res["max_score"], res["tests"], err = autograde_one(nb, src, workdir, timeout)
                if err:
                    res["error"] = err
                    res["score"] = 0.0
            except NotGradable as e:
                res["error"] = str(e)
            except Exception as e:  # never let one notebook stop the batch
                res["error"] = f"grading failed: {type(e).__name__}: {str(e).strip()[:MAX_ERROR_CHARS]}"
                res["score"] = 0.0
            results.append(res)
    return results
