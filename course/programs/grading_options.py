"""The options ``course grade`` and ``course autograde`` share: the limits of student code, and progress.

``--timeout`` (per cell) is each command's own; :func:`add_limits` adds the rest, :func:`limits` reads
them back as the sandbox's ``Limits``, :func:`progress` draws a bar on stderr.
"""

import sys


def progress(desc):
    """A progress bar on stderr: done / total, rate and ETA (the grader gives tqdm the total)."""
    from tqdm import tqdm

    return lambda it: tqdm(it, desc=desc, unit="notebook", file=sys.stderr, dynamic_ncols=True)


def limits(args):
    from course.grading.sandbox import Limits

    return Limits(memory_mb=args.memory_mb, cpu_s=args.cpu_s)


def add_limits(parser):
    """The limits ``course grade`` and ``course autograde`` take: memory, CPU, a whole notebook, isolation."""
    parser.add_argument("--memory-mb", type=int, default=4096, help="memory limit of the student's code (MiB)")
    parser.add_argument("--cpu-s", type=int, default=600, help="CPU-time limit of the student's code (s)")
    parser.add_argument(
        "--notebook-timeout",
        type=int,
        default=900,
        help="limit for one whole notebook, seconds: nbgrader's run and the verifier's (default 900); "
        "--timeout is the limit per cell",
    )
    parser.add_argument(
        "--no-isolation",
        action="store_true",
        help="grade even where student code cannot be isolated (no user namespaces, no bubblewrap): "
        "it could then read every file you can",
    )
