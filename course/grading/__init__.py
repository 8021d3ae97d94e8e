"""Grading student notebooks, hardened: read in this order.

1. :mod:`~course.grading.submission` -- reading a handed-in file, identifying its unit, the
   cell model (setup / answer / test cells by nbgrader grade_id);
2. :mod:`~course.grading.nbgrader` -- the one adapter to nbgrader's API;
3. :mod:`~course.grading.batch` -- :func:`grade_notebooks`, the one grading path of
   ``course grade`` and ``course autograde``: jobs handed to worker processes;
4. :mod:`~course.grading.worker` -- one submission: nbgrader's autograde, then the verifier;
5. :mod:`~course.grading.sandbox` -- how student code is confined;
6. :mod:`~course.grading.forkserver` -- sandboxed processes forked from a warm interpreter;
7. :mod:`~course.grading.verify` -- the tests re-run where student code cannot reach them.

The trust boundary: everything a student controls (the notebook's code and everything it
prints, returns, writes or names) runs or is produced inside the sandbox. Only these cross
back to the trusted side (worker, verifier's checker, gradebook writer, collect, feedback,
logs), and each is handled as hostile data: the submitted file (size-bounded, parsed, its
nbgrader metadata replaced by the instructor's); nbgrader's executed notebook (outputs
bounded, sanitised before the formgrader or feedback shows them); the verifier's replies
(plain data only, bounded in size and depth); error messages (bounded, control characters
escaped before they reach a report).
"""

from course.grading.batch import grade_notebooks
from course.grading.submission import NotGradable, read_submission

__all__ = ["grade_notebooks", "NotGradable", "read_submission"]
