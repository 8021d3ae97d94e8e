"""Benchmark: grading a class, plain sequential nbgrader vs `course autograde --workers 2`.

Generates 40 submissions of one unit (correct, partially wrong, broken),
grades them twice in two throw-away course folders:

1. plain ``nbgrader autograde UNIT`` (one command, submissions one after another);
2. ``course autograde UNIT --workers 2`` (sandboxed kernels, the out-of-process
   verifier, persistent workers),

checks that both give every student the same grade, and prints the times, the
ratio, the core-seconds per submission (CPU time of every process either run
started) and where ours go (wall seconds per stage, from each result's
``"stages"``). Not a test: timings are noisy; run it on otherwise idle cores.

    .venv/bin/python bench/grading_speed.py [--unit 02_backprop] [--n 40] [--workers 2]
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from course import instructor  # noqa: E402
from course import units as course_units  # noqa: E402
from course.grading.submission import solved_answers  # noqa: E402


def make_submissions(unit, n):
    """n notebooks: half correct, a quarter with one wrong function, a quarter untouched stubs."""
    u = course_units.get(unit, ROOT)
    source = nbformat.read(u.source_notebooks[0], as_version=4)
    solved = solved_answers(source)
    stub = nbformat.read(u.release_dir / u.source_notebooks[0].name, as_version=4)
    answer_ids = sorted(solved)
    subs = {}
    for i in range(n):
        nb = nbformat.from_dict(stub)
        kind = "correct" if i % 4 in (0, 1) else "partial" if i % 4 == 2 else "broken"
        for cell in nb.cells:
            gid = cell.metadata.get("nbgrader", {}).get("grade_id")
            if gid in solved and kind != "broken":
                cell.source = solved[gid]
                if kind == "partial" and gid == answer_ids[i % len(answer_ids)]:
                    name = gid[len("answer_") :]
                    cell.source += (
                        f"\n\n_real_{name} = {name}\ndef {name}(*a, **k):\n    out = _real_{name}(*a, **k)\n"
                        f"    return out if not isinstance(out, tuple) else (out[0] * 1.01,) + out[1:]\n"
                    )
        subs[f"student{i:02d}"] = (nbformat.writes(nb), kind)
    return subs, u.source_notebooks[0].name


def course_folder(unit, subs, nb_name):
    root = Path(tempfile.mkdtemp(prefix="bench-course-"))
    shutil.copy(ROOT / "nbgrader_config.py", root)
    shutil.copytree(ROOT / "solutions" / unit, root / "solutions" / unit)
    for student, (text, _) in subs.items():
        d = root / "submitted" / student / unit
        d.mkdir(parents=True)
        (d / nb_name).write_text(text)
    return root


def busy_core_seconds():
    """CPU seconds the whole machine has spent busy so far (/proc/stat): on otherwise idle cores,
    a difference is what a run cost, every process it started included (sandboxed ones too,
    whose time no parent collects)."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def plain_nbgrader(unit, subs, nb_name):
    root = course_folder(unit, subs, nb_name)
    env = dict(os.environ, PATH=str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"])
    nbgrader = [str(Path(sys.executable).parent / "nbgrader")]
    subprocess.run(
        nbgrader + ["generate_assignment", unit, "--force"], cwd=root, env=env, check=True, capture_output=True
    )
    start, cpu = time.monotonic(), busy_core_seconds()
    subprocess.run(nbgrader + ["autograde", unit, "--force"], cwd=root, env=env, check=True, capture_output=True)
    elapsed, cpu = time.monotonic() - start, busy_core_seconds() - cpu
    rows = {r["student"]: r["total"] for r in instructor.grades(root=root)}
    shutil.rmtree(root, ignore_errors=True)
    return elapsed, cpu, rows, {}


def course_autograde(unit, subs, nb_name, workers):
    """`course autograde UNIT --workers N`, in this process (its workers are child processes)."""
    root = course_folder(unit, subs, nb_name)
    start, cpu = time.monotonic(), busy_core_seconds()
    results = instructor.autograde(unit, root=root, workers=workers)
    elapsed, cpu = time.monotonic() - start, busy_core_seconds() - cpu
    rows = {r["student"]: r["total"] for r in instructor.grades(root=root)}
    stages = {}
    for _, r in results:
        for stage, seconds in r.get("stages", {}).items():
            stages[stage] = stages.get(stage, 0.0) + seconds
    shutil.rmtree(root, ignore_errors=True)
    return elapsed, cpu, rows, stages


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--unit", default="02_backprop")
    p.add_argument("--n", type=int, default=40)
    p.add_argument("--workers", type=int, default=2)
    a = p.parse_args()
    subs, nb_name = make_submissions(a.unit, a.n)
    t_plain, cpu_plain, plain, _ = plain_nbgrader(a.unit, subs, nb_name)
    t_course, cpu_course, ours, stages = course_autograde(a.unit, subs, nb_name, a.workers)
    same = plain == ours
    n = a.n
    print(
        f"unit {a.unit}, {n} submissions ({sum(k == 'correct' for _, k in subs.values())} correct, "
        f"{sum(k == 'partial' for _, k in subs.values())} partially wrong, "
        f"{sum(k == 'broken' for _, k in subs.values())} stubs), {os.cpu_count()} cores"
    )
    ours_name = f"course autograde --workers {a.workers}:"
    print(f"plain nbgrader autograde (sequential): {t_plain:7.1f} s  ({cpu_plain / n:.2f} core-s per submission)")
    print(f"{ours_name:<38} {t_course:7.1f} s  ({cpu_course / n:.2f} core-s per submission)")
    print(f"speed-up: {t_plain / t_course:.2f}x   grades identical: {same}")
    total = stages.pop("total", 0.0)
    if total:
        print("where a submission's time goes in a worker (wall s per submission):")
        for stage, seconds in sorted(stages.items(), key=lambda kv: -kv[1]):
            print(f"  {stage:<10} {seconds / n:5.2f}")
        print(f"  {'other':<10} {(total - sum(stages.values())) / n:5.2f}  (copies, gradebook reads, result)")
        print(f"  {'total':<10} {total / n:5.2f}  (x {n} / {a.workers} workers = {total / a.workers:.1f} s of the run)")
    if not same:
        for s in sorted(plain):
            if plain[s] != ours.get(s):
                print(f"  {s}: nbgrader {plain[s]} vs course {ours.get(s)} ({subs[s][1]})")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
