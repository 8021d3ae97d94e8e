"""Where the course is: nbgrader's course directory, found the same way by every command.

The course directory holds ``solutions/`` (the instructor's notebooks, one folder per unit),
``submitted/<student>/<unit>/`` (what collect brings in), ``autograded/``, ``feedback/`` and the
gradebook. :func:`find_course` finds it as nbgrader does (the nearest ``nbgrader_config.py``);
:func:`require_course` and :func:`require_unit` say in one line what to do when it is not one.
"""

import os
from pathlib import Path

from course import units as course_units
from course.errors import CourseError


def find_course(root=None, cwd=None):
    """The course directory: ``root``, ``$COURSE_ROOT``, the nearest folder with ``nbgrader_config.py``
    from ``cwd`` (default: the working directory) up, or else the package's own course."""
    if root:
        return Path(root)
    if os.environ.get("COURSE_ROOT"):
        return Path(os.environ["COURSE_ROOT"])
    here = Path(cwd or os.getcwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "nbgrader_config.py").is_file():
            return folder
    return course_units.course_root()


def require_course(root=None):
    """The course directory (:func:`find_course`), or CourseError when it has no ``solutions/`` folder."""
    root = find_course(root)
    if not (root / "solutions").is_dir():
        raise CourseError(
            f"{root} is not a course directory of this course: it has no solutions/ folder "
            "(run the command inside the course, or give --course DIR or COURSE_ROOT)"
        )
    return root


def require_unit(unit, root):
    """The unit ``unit`` of the course at ``root``, or CourseError naming the units there."""
    try:
        return course_units.get(unit, root)
    except KeyError as e:
        raise CourseError(f"{e.args[0]} (in {root}/solutions)") from None
