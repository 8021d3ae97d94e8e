"""Helper package of the course *Recurrent neural networks, from the perceptron
to bidirectional LSTMs*.

The package has three parts.

* **What notebooks import**: gradient checking and ``rel_error``
  (``gradient_check``), the reference checks behind the graded tests
  (``checks``, with ``testing`` for their messages and ``references`` for torch's
  outputs, live or saved for units 1-8, which install without torch), NumPy <-> PyTorch
  weight copying (``interop``), training loops (``training``), plotting
  (``plotting``), sliders that redraw a figure (``widgets``) and the datasets, all offline (``datasets``: ``toy``,
  ``text``, ``synthetic``, ``human_numbers``).
* **What graders run**: ``grading`` (reading a submission, nbgrader, the
  batch and its workers, the sandbox, the fork server, the verifier; its
  docstring draws the trust boundary).
* **The instructor's part**: ``instructor``, nbgrader's course directory (finding it,
  collect, the exchange authenticated by the operating system, the gradebook, autograde,
  feedback, grades and the LMS, what the instructor learns from a graded class, the
  student release and the committed form of notebooks; its docstring gives the reading order).

Around them, ``programs``: the ``course`` command (``cli``), JupyterLab (``lab``), the
website (``site``), the hub (``hub``, and ``hub_server``, run in each user's server) and the
numbers a lecture's prose takes from a computation (``prose_numbers``). Every part may use the
list of units (``units``) and the errors a user is told in one line (``errors``). A part never
imports one above it (``tests/project/test_layers.py``).

Graded functions are *not* here: students write those.
"""

import random

import numpy as np

from course.gradient_check import eval_numerical_gradient, eval_numerical_gradient_array, rel_error

__version__ = "0.1.0"
__all__ = ["seed", "device", "rel_error", "eval_numerical_gradient", "eval_numerical_gradient_array"]


def seed(s=0):
    """Seed Python's, NumPy's and (if imported) torch's generators; returns a NumPy Generator."""
    random.seed(s)
    np.random.seed(s)
    try:
        import torch

        torch.manual_seed(s)
    except ImportError:  # optional: units 1-8 need NumPy alone
        pass
    return np.random.default_rng(s)


def device():
    """``torch.device('cuda')`` when a GPU is present, else ``torch.device('cpu')``."""
    from course.interop import require_torch

    torch = require_torch("course.device()")

    return torch.device("cuda" if torch.cuda.is_available() else "cpu")
