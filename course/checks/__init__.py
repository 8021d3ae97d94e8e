"""Reference checks behind the graded tests, one module per unit.

Each ``check_NAME(fn, ...)`` calls a student's function through
``course.testing.call_student`` and compares what it returns with an
independent reference: PyTorch with copied weights, autograd, centred
numerical gradients, or a small case worked by hand. A failure raises an
AssertionError that tells the student what to fix. Checks never look inside
a cache, so any correct implementation (loops or vectorised) passes.

What the unit modules share lives in ``_common``: checking the student's own
forward before a backward ("your lstm_forward is wrong ...; fix it first"),
the numerical-gradient comparison, and the diagnosis on failure (the same
layer written with torch, one typical mistake planted at a time: the one
that matches the student's output names the hint).
"""
