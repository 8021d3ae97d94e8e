"""How a submission is graded: the time limits, the sandbox's limits, isolation -- one :class:`GradingSettings`.

Every default is named once: the time limits here, the sandbox's resource limits in
:class:`course.grading.sandbox.Limits` (``GradingSettings.limits``). The settings travel whole and
are written out in one form, :meth:`GradingSettings.to_dict` (read back by :meth:`from_dict`).
``--timeout 30`` on the command line, followed to the kernel:

1. ``course grade`` / ``course autograde`` (``course.programs.cli``) make a GradingSettings of
   their options (``--timeout``, ``--notebook-timeout``, ``--memory-mb``, ``--cpu-s``,
   ``--no-isolation``), their defaults read from :data:`DEFAULTS`;
2. the instructor's ``autograde`` passes it on unchanged to ``grade_notebooks`` (a local pool) or
   ``grade_on_cluster`` (Dask: ``to_dict()`` in each task, ``from_dict()`` on the worker);
3. :class:`course.grading.batch.Grader` keeps it: ``wall_timeout`` is how long it waits for a
   worker's ``done`` on one notebook before it kills that worker; ``no_isolation`` whether it
   grades where student code cannot be isolated; the rest goes into each job file as ``to_dict()``;
4. the worker (:mod:`course.grading.worker`) reads it back with ``from_dict()``: ``timeout`` is
   nbgrader's execution limit per cell (``ExecutePreprocessor.timeout``, via
   :func:`course.grading.nbgrader.api`) and the verifier's per test; ``limits`` become the
   sandbox's arguments (:func:`course.grading.sandbox.command_args`: the kernel's command line,
   the verifier's request to the fork server), which the fork server parses back and
   :func:`course.grading.sandbox.fork` applies as rlimits and the size of the sandbox's space.
"""

from dataclasses import asdict, dataclass, field, replace

from course.grading.sandbox import Limits


@dataclass(frozen=True)
class GradingSettings:
    """The limits one submission is graded under (frozen: shared by every job of a batch)."""

    #: Seconds per cell (nbgrader's run of the notebook) and per test (the verifier's re-run).
    timeout: int = 60
    #: Seconds for one whole notebook: nbgrader's run and the verifier's; past it the worker is killed.
    wall_timeout: int = 900
    #: The sandbox's resource limits (memory, CPU, processes, file size, disk, inodes).
    limits: Limits = field(default_factory=Limits)
    #: Grade even where student code cannot be isolated (else that is refused, saying why).
    no_isolation: bool = False

    def to_dict(self):
        """The JSON form: ``{"timeout", "wall_timeout", "limits": {...}, "no_isolation"}``."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d):
        return cls(**dict(d, limits=Limits(**d["limits"])))

    @classmethod
    def of(cls, settings=None, **changes):
        """``settings`` (default :data:`DEFAULTS`) with ``changes`` (fields by name: ``timeout=30``)."""
        return replace(settings or DEFAULTS, **changes)


#: The defaults, for whoever shows them (the command line's help).
DEFAULTS = GradingSettings()
