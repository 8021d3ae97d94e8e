"""Helper package of the course *Recurrent neural networks, from the perceptron
to bidirectional LSTMs*.

The package has three parts.

* **What notebooks import**: gradient checking and ``rel_error``
  (``gradient_check``), the reference checks behind the graded tests
  (``checks``, with ``testing`` for their messages), NumPy <-> PyTorch
  weight copying (``interop``), training loops (``training``), plotting
  (``plotting``), sliders that redraw a figure (``widgets``) and the datasets, all offline (``datasets``: ``toy``,
  ``text``, ``synthetic``, ``human_numbers``).
* **What graders run**: ``grading`` (reading a submission, nbgrader, the
  batch and its workers, the sandbox, the fork server, the verifier; its
  docstring draws the trust boundary).
* **The tools around them**: the ``course`` command (``cli``), JupyterLab
  (``lab``), the website (``site``), the student release (``release``) and the
  committed form of notebooks (``notebook_format``), the numbers a lecture's prose
  takes from a computation (``prose_numbers``), the instructor's pipeline
  (``instructor``: autograde, feedback, grades; ``intake``: collect from a folder or
  zip; ``exchange``: nbgrader's exchange authenticated by the operating system;
  ``gradebook``, ``feedback``, ``lms``), what the instructor learns from a graded
  class (``report``, ``similarity``), the errors a user is told in one line (``errors``),
  the hub (``hub``, and ``hub_server``, run in
  each user's server) and the list of units (``units``).

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
    except ImportError:  # torch is a dependency, but seeding NumPy alone still helps
        pass
    return np.random.default_rng(s)


def device():
    """``torch.device('cuda')`` when a GPU is present, else ``torch.device('cpu')``."""
    import torch

    return torch.device("cuda" if torch.cuda.is_available() else "cpu")
