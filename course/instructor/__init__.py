"""The instructor's part: nbgrader's course directory and the pipeline on it. Read in this order.

1. :mod:`~course.instructor.course_dir` -- finding the course directory and its units;
2. :mod:`~course.instructor.intake` -- ``course collect``: a folder or zip of submissions into
   ``submitted/``, the safe reading of what students hand in, and :func:`find_submissions`;
3. :mod:`~course.instructor.exchange` -- nbgrader's exchange on a shared machine, each submission
   authenticated by the operating system (the hub's ``nbgrader collect``);
4. :mod:`~course.instructor.gradebook` -- opening the gradebook (SQLite or PostgreSQL);
5. :mod:`~course.instructor.autograding` -- ``course autograde``: every submission of a unit through
   the engine (:mod:`course.grading`) into the gradebook, its log and summary;
6. :mod:`~course.instructor.feedback` -- ``course feedback``: a page per student, no hidden tests;
7. :mod:`~course.instructor.lms` -- ``course grades``: the class's scores, as CSV and for Canvas/Moodle;
8. :mod:`~course.instructor.report` and :mod:`~course.instructor.similarity` -- what the instructor
   learns from a graded class (``course report``, ``course similarity``); their pages and
   feedback's share one inert skeleton, :mod:`~course.instructor.html_page`;
9. :mod:`~course.instructor.release` and :mod:`~course.instructor.notebook_format` -- the students'
   exercises made from ``solutions/``, and the committed form of every notebook.

This part imports the engine (:mod:`course.grading`) and the package's basics (``course.units``,
``course.errors``), never the programs around it (:mod:`course.programs`); nbgrader's API is
reached through the one adapter, :mod:`course.grading.nbgrader` (``tests/project/test_layers.py``).
Below: the names the programs and the tests use, from the modules that own them.
"""

from course.instructor.autograding import Interrupted, autograde, summary
from course.instructor.course_dir import find_course, require_course, require_unit
from course.instructor.feedback import write_feedback
from course.instructor.gradebook import default_db
from course.instructor.intake import Collected, UnsafeArchive, collect, find_submissions, valid_student_id
from course.instructor.lms import grades

__all__ = [
    "Collected",
    "Interrupted",
    "UnsafeArchive",
    "autograde",
    "collect",
    "default_db",
    "find_course",
    "find_submissions",
    "grades",
    "require_course",
    "require_unit",
    "summary",
    "valid_student_id",
    "write_feedback",
]
