"""The second opinion on a grade: the tests re-run where student code cannot reach them.

nbgrader runs the tests in the same kernel as the student's code, so a submission can in
principle redefine what the tests use (``np.allclose``, the ``course`` checks, ``builtins``).
The verifier grades the same submission again with the roles split over processes:

* the **student processes** (sandboxed) execute the unit's setup cells and the submission's
  *answer cells* only, and then serve calls to the functions they define; a graded NumPy
  function runs where torch, the checks and ``course.interop`` cannot be reached
  (:mod:`~course.grading.verify.student`);
* the **checker process** (the grading worker) executes the instructor's setup and test cells,
  hidden tests included, with each of the contract's graded names bound to a proxy that calls
  into a student process (:mod:`~course.grading.verify.checker`).

What crosses between them is plain data in the course's own wire format (no pickle), bounded in
size, depth and item count (:mod:`~course.grading.verify.wire`); torch modules cross as their
state and gradients as vector-Jacobian products (:mod:`~course.grading.verify.torch_bridge`).
Every comparison happens in a process the student's code never ran in; the grade of a test is
the minimum of nbgrader's and this verdict.

Read in this order: ``wire`` (the format, its bounds, the :class:`~course.grading.verify.wire.Side`
both ends implement), ``torch_bridge``, ``checker`` (:func:`verify`), ``student``. Importing this
package imports no torch (the fork server's torch-free server preloads it).
"""

from course.grading.verify.checker import (
    CALLBACK_FACTOR,
    CALLBACK_SLACK,
    FORBIDDEN_MODULES,
    MAX_CALLBACK_BYTES,
    MAX_CALLBACKS,
    StudentProcess,
    forbidden_paths,
    verify,
)
from course.grading.verify.student import Server, serve
from course.grading.verify.wire import (
    MAX_BIGINT_BYTES,
    MAX_DEPTH,
    MAX_FRAME,
    MAX_ITEMS,
    MAX_LAYERS,
    MAX_MESSAGE_CHARS,
    MAX_MODULES,
    MAX_NDIM,
    Remote,
    Side,
    StudentError,
    WireError,
    _Reader,
    _Writer,
)

__all__ = [
    "CALLBACK_FACTOR",
    "CALLBACK_SLACK",
    "FORBIDDEN_MODULES",
    "MAX_BIGINT_BYTES",
    "MAX_CALLBACK_BYTES",
    "MAX_CALLBACKS",
    "MAX_DEPTH",
    "MAX_FRAME",
    "MAX_ITEMS",
    "MAX_LAYERS",
    "MAX_MESSAGE_CHARS",
    "MAX_MODULES",
    "MAX_NDIM",
    "Remote",
    "Server",
    "Side",
    "StudentError",
    "StudentProcess",
    "WireError",
    "_Reader",
    "_Writer",
    "serve",
    "forbidden_paths",
    "verify",
]
