"""Benchmark: a class graded by the local pool vs a loopback Dask cluster, and a projection to 10,000.

Generates N submissions of one unit (half correct, a quarter partly wrong, a quarter untouched
stubs: bench/grading_speed.py's generator) and grades them twice on this machine, on the same cores:

1. the local pool: ``course.grading.grade_notebooks(..., workers=W)``;
2. a Dask ``LocalCluster`` of W worker processes: ``course.grading.cluster.grade_on_cluster``
   (``course autograde --scheduler local:W``), cluster start-up included.

It checks that both give every submission the same score, and prints the throughput of both, the
Dask path's overhead, the scheduler's own cost per task (empty tasks), and a projection of the wall
time of 10,000 submissions on M machines from the measured busy seconds per submission. Not a
test: timings are noisy, and on a shared machine other people's work inflates them.

    .venv/bin/python bench/grading_scale.py [--n 200] [--workers 2] [--unit 01_perceptron]
"""

import argparse
import importlib.util
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from course.grading import cluster, grade_notebooks  # noqa: E402

_spec = importlib.util.spec_from_file_location("grading_speed", ROOT / "bench" / "grading_speed.py")
grading_speed = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(grading_speed)


def _noop(i):
    return i


def scheduling_overhead(workers, n_tasks=200):
    """(start-up s, s per empty task with many in flight, s per empty task one after another): a LocalCluster."""
    start = time.monotonic()
    client, local = cluster.connect(f"local:{workers}")
    startup = time.monotonic() - start
    try:
        client.gather(client.map(_noop, range(10), pure=False))  # warm
        start = time.monotonic()
        client.gather(client.map(_noop, range(n_tasks), pure=False))
        in_flight = (time.monotonic() - start) / n_tasks
        start = time.monotonic()
        for i in range(20):
            client.submit(_noop, i, pure=False).result()
        one_by_one = (time.monotonic() - start) / 20
    finally:
        client.close()
        local.close()
    return startup, in_flight, one_by_one


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--unit", default="01_perceptron")
    p.add_argument("--n", type=int, default=200)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--timeout", type=int, default=60, help="per cell, as course autograde's default")
    a = p.parse_args()
    subs, nb_name = grading_speed.make_submissions(a.unit, a.n)
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        paths = []
        for student, (text, _) in subs.items():
            path = Path(tmp) / f"{student}.ipynb"
            path.write_text(text)
            paths.append(str(path))
        print(f"{a.n} submissions of {a.unit}, {a.workers} workers, {os.cpu_count()} cores here", flush=True)

        start = time.monotonic()
        local = grade_notebooks(paths, timeout=a.timeout, unit=a.unit, root=ROOT, workers=a.workers)
        t_local = time.monotonic() - start
        print(f"local pool:   {t_local:7.1f} s  {a.n / t_local * 60:6.1f} submissions/min", flush=True)

        start = time.monotonic()
        remote = cluster.grade_on_cluster(paths, f"local:{a.workers}", timeout=a.timeout, unit=a.unit, root=ROOT)
        t_dask = time.monotonic() - start
        print(f"dask cluster: {t_dask:7.1f} s  {a.n / t_dask * 60:6.1f} submissions/min", flush=True)
        seconds = [r["seconds"] for r in remote if "seconds" in r]

    same = [(x["score"], x.get("error")) for x in local] == [(x["score"], x.get("error")) for x in remote]
    print(f"same scores both ways: {same}")
    print(f"Dask overhead over the local pool: {100 * (t_dask / t_local - 1):+.1f} % (cluster start-up included)")
    startup, in_flight, one_by_one = scheduling_overhead(a.workers)
    print(f"a local cluster's start-up: {startup:.1f} s")
    print(
        f"scheduler's cost per task (empty tasks): {in_flight * 1000:.1f} ms with many in flight, "
        f"{one_by_one * 1000:.1f} ms one after another (round trip)"
    )
    busy = sum(seconds) / len(seconds) if seconds else t_dask * a.workers / a.n
    print(f"busy worker-seconds per submission (measured on the workers): {busy:.2f} s")
    print("projection for 10,000 submissions (one worker per core, as measured here; start-up not included):")
    for cores in (a.workers, 16, 64):
        cells = []
        for machines in (1, 10, 50):
            wall = 10_000 * busy / (machines * cores)
            cells.append(f"{machines:>2} machine(s): {wall / 60:7.1f} min")
        print(f"  {cores:>2} cores per machine:  " + "   ".join(cells))


if __name__ == "__main__":
    main()
