"""Grading student notebooks, hardened: read in this order.

1. :mod:`~course.grading.submission` -- reading a handed-in file, identifying its unit, the
   cell model (setup / answer / test cells by nbgrader grade_id);
2. :mod:`~course.grading.nbgrader` -- the one adapter to nbgrader's API;
3. :mod:`~course.grading.batch` -- :func:`grade_notebooks`, the one grading path of
   ``course grade`` and ``course autograde``: a :class:`~course.grading.batch.Grader` hands
   jobs to worker processes; what it is given, :mod:`~course.grading.settings` (one
   ``GradingSettings``: every time and resource limit, their defaults), and what it returns,
   :mod:`~course.grading.results` (``Result``: a graded notebook, its one JSON form);
4. :mod:`~course.grading.cluster` -- the same Grader on the workers of a Dask cluster;
5. :mod:`~course.grading.worker` -- one submission: nbgrader's autograde, then the verifier;
6. :mod:`~course.grading.sandbox` -- how student code is confined (namespaces, an allowlist
   view, no network, no capabilities, limits), its view of the machine built by :mod:`~course.grading.view`;
7. :mod:`~course.grading.forkserver` -- sandboxed processes forked from a warm interpreter;
   :mod:`~course.grading.provisioner` asks it for nbgrader's kernels (jupyter_client's
   provisioner API: no kernel.json, no process standing in for the kernel);
8. :mod:`~course.grading.verify` -- the tests re-run where student code cannot reach them, a
   package read in this order: ``wire`` (the format, its bounds, the ``Side`` both processes
   implement), ``torch_bridge`` (torch modules and gradients across), ``checker`` (the
   instructor's tests, :func:`~course.grading.verify.verify`) and ``student`` (the sandboxed
   process that serves the answers);
9. :mod:`~course.grading.outputs` -- what comes out of the sandbox, made safe to show.

Three small modules the others share: :mod:`~course.grading.processes` (every protocol
timeout, named; reading with a deadline; ending a process and its session; dying with the
parent; a socket in a deep folder), :mod:`~course.grading.files` (reading what another account
could have written: no link followed, bounded) and :mod:`~course.grading.namespaces` (the Linux
calls of the sandbox and the hub: namespaces, mounts, capabilities).

The trust boundary: everything a student controls (the notebook's code and everything it
prints, returns, writes or names) runs or is produced inside the sandbox, started by
:func:`course.grading.sandbox.fork` with an environment by allowlist. Only these cross back to
the trusted side (worker, verifier's checker, gradebook writer, collect, feedback, logs), and
each is handled as hostile data:

* the submitted file: size-bounded, parsed (never executed here), its nbgrader metadata
  replaced by the instructor's; collected without following links;
* nbgrader's executed notebook: read with bounds, sanitised (:mod:`~course.grading.outputs`)
  before the formgrader or feedback shows it; the kernel works in a folder nbgrader never
  writes into, so a planted link leads nowhere;
* the verifier's replies: values only, in the course's own wire format
  (:mod:`~course.grading.verify.wire`: no pickle), bounded
  in size, depth and item count; the names bound in the checker are the contract's, from the
  instructor's source; callbacks into the checker's references are bounded in size and count;
* error messages and names: bounded, control characters escaped before a log or a report.

The package is the engine below the instructor's part: it imports nothing of
:mod:`course.instructor` (collect, autograde, gradebook, feedback, grades) or of the programs
around them (:mod:`course.programs`: ``cli``, ``lab``, ``site``, ``hub``); the one-line errors
every layer raises derive from :class:`course.errors.CourseError` (``tests/project/test_layers.py``).
"""

from course.grading.batch import grade_notebooks
from course.grading.submission import NotGradable, read_submission

__all__ = ["grade_notebooks", "NotGradable", "read_submission"]
