"""The units of the course and where their files live.

A unit ``NN_name`` is a lecture ``lectures/NN_name.ipynb`` plus an exercise
whose instructor version (nbgrader source) is ``solutions/NN_name/*.ipynb``
and whose student version (nbgrader release) is ``exercises/NN_name/*.ipynb``.
The list is read from the file system, so adding a unit is adding files.

A copy of the course without ``solutions/`` (what a student's server on the hub sees:
``course.programs.hub.user_view``) has the released exercises as its sources: ``course grade``
there runs an exercise's visible tests only (the hidden ones exist in ``solutions/`` alone).
"""

import os
from dataclasses import dataclass
from pathlib import Path


def course_root():
    """The course's root folder (the one holding ``nbgrader_config.py``).

    ``$COURSE_ROOT`` wins; otherwise the folder above this package, which is
    the repository when the package is installed in editable mode.
    """
    env = os.environ.get("COURSE_ROOT")
    root = Path(env) if env else Path(__file__).resolve().parent.parent
    if not (root / "nbgrader_config.py").exists():
        raise FileNotFoundError(
            f"{root} is not the course's root (no nbgrader_config.py); "
            "install the course with `pip install -e .` or set COURSE_ROOT"
        )
    return root


@dataclass(frozen=True)
class Unit:
    id: str  # e.g. "06_lstm": nbgrader's assignment name
    root: Path

    @property
    def lecture(self):
        return self.root / "lectures" / f"{self.id}.ipynb"

    @property
    def source_dir(self):
        """solutions/NN_name; the released exercise in a course without solutions/ (a student's copy)."""
        return self.root / "solutions" / self.id if has_solutions(self.root) else self.release_dir

    @property
    def release_dir(self):
        return self.root / "exercises" / self.id

    @property
    def source_notebooks(self):
        return sorted(self.source_dir.glob("*.ipynb"))


def has_solutions(root):
    """Whether the course at ``root`` holds the instructor's notebooks (solutions and hidden tests)."""
    return (Path(root) / "solutions").is_dir()


def units(root=None):
    """All units, in course order (those of exercises/ in a course without solutions/)."""
    root = Path(root) if root else course_root()
    folder = root / ("solutions" if has_solutions(root) else "exercises")
    return [Unit(p.name, root) for p in sorted(folder.iterdir()) if p.is_dir() and p.name[:2].isdigit()]


def get(unit_id, root=None):
    for u in units(root):
        if u.id == unit_id:
            return u
    raise KeyError(f"no unit {unit_id!r}; units: {', '.join(u.id for u in units(root))}")
