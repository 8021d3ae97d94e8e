"""The options ``course grade`` and ``course autograde`` share: how a submission is graded, and progress.

:func:`add_limits` adds the options of :class:`course.grading.settings.GradingSettings` (``--timeout``
per cell, ``--notebook-timeout``, ``--memory-mb``, ``--cpu-s``, ``--no-isolation``), their defaults
read from it; :func:`settings` reads them back as one GradingSettings, which goes down whole (its
docstring follows ``--timeout`` to the kernel); :func:`progress` draws a bar on stderr.
"""

import sys


def progress(desc):
    """A progress bar on stderr: done / total, rate and ETA (the grader gives tqdm the total)."""
    from tqdm import tqdm

    return lambda it: tqdm(it, desc=desc, unit="notebook", file=sys.stderr, dynamic_ncols=True)


def settings(args):
    """The GradingSettings of the options :func:`add_limits` added."""
    from course.grading.sandbox import Limits
    from course.grading.settings import GradingSettings

    return GradingSettings(
        timeout=args.timeout,
        wall_timeout=args.notebook_timeout,
        limits=Limits(memory_mb=args.memory_mb, cpu_s=args.cpu_s),
        no_isolation=args.no_isolation,
    )


def add_limits(parser):
    """The limits ``course grade`` and ``course autograde`` take: per cell, a whole notebook, memory, CPU, isolation."""
    from course.grading.settings import DEFAULTS as D

    parser.add_argument(
        "--timeout", type=int, default=D.timeout, help=f"execution limit per cell, seconds (default {D.timeout})"
    )
    parser.add_argument(
        "--notebook-timeout",
        type=int,
        default=D.wall_timeout,
        help=f"limit for one whole notebook, seconds: nbgrader's run and the verifier's (default {D.wall_timeout}); "
        "--timeout is the limit per cell",
    )
    parser.add_argument(
        "--memory-mb", type=int, default=D.limits.memory_mb, help="memory limit of the student's code (MiB)"
    )
    parser.add_argument("--cpu-s", type=int, default=D.limits.cpu_s, help="CPU-time limit of the student's code (s)")
    parser.add_argument(
        "--no-isolation",
        action="store_true",
        help="grade even where student code cannot be isolated (no user namespaces, no bubblewrap): "
        "it could then read every file you can",
    )
