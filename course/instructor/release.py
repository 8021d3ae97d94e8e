"""Making the student versions: exercises/ from solutions/ with nbgrader.

``generate_assignment`` clears outputs, replaces each solution block by
``raise NotImplementedError()`` and removes hidden tests. The gradebook it
needs is a throw-away one, so releasing leaves nothing behind but exercises/. The notebooks are
written in the course's committed form (:mod:`course.instructor.notebook_format`: they open unmodified).
"""

import filecmp
import tempfile
from pathlib import Path

from course import units as course_units
from course.grading.nbgrader import generate_assignment
from course.instructor.notebook_format import write_normalised


def release(root=None, unit_ids=None, dest=None):
    """Regenerate the student notebooks; returns the written paths.

    root: the course root (default: this repository); unit_ids: the units to
    release (default: all); dest: release folder (default: root/exercises).
    """
    root = Path(root) if root else course_units.course_root()
    dest = Path(dest) if dest else root / "exercises"
    chosen = [u for u in course_units.units(root) if unit_ids is None or u.id in unit_ids]
    written = []
    with tempfile.TemporaryDirectory(prefix="course-release-") as tmp:
        for u in chosen:
            db, exchange = Path(tmp) / "gradebook.db", Path(tmp) / "exchange"
            generate_assignment(root, db, u.id, source=root / "solutions", release=dest, exchange=exchange)
            written += sorted((dest / u.id).glob("*.ipynb"))
    for path in written:
        write_normalised(path)
    return written


def out_of_sync(root=None):
    """Files of exercises/ that differ from a fresh release (empty when in sync)."""
    root = Path(root) if root else course_units.course_root()
    with tempfile.TemporaryDirectory(prefix="course-release-check-") as tmp:
        release(root, dest=Path(tmp) / "exercises")
        fresh, committed = Path(tmp) / "exercises", root / "exercises"
        names = {p.relative_to(fresh) for p in fresh.rglob("*") if p.is_file()}
        names |= {p.relative_to(committed) for p in committed.rglob("*") if p.is_file() and p.name != ".gitkeep"}
        return sorted(
            str(n)
            for n in names
            if not (fresh / n).exists()
            or not (committed / n).exists()
            or not filecmp.cmp(fresh / n, committed / n, shallow=False)
        )
