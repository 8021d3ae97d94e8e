"""The ``course`` command: release, grade, lab.

    course release              regenerate exercises/ from solutions/ (nbgrader)
    course release --check      fail if exercises/ is out of sync with solutions/
    course grade NB... [--json] grade student notebooks of any unit
    course lab [--no-browser]   JupyterLab on the course, opened at the first lecture
"""

import argparse
import json
import os
import socket
import subprocess
import sys

from course import units as course_units


def _cmd_release(args):
    from course.release import out_of_sync, release

    if args.check:
        stale = out_of_sync()
        if stale:
            print("exercises/ is out of sync with solutions/; run `course release`. Differing files:")
            for name in stale:
                print("  exercises/" + name)
            return 1
        print("exercises/ is in sync with solutions/")
        return 0
    for path in release(unit_ids=args.unit or None):
        print(f"released {path.relative_to(course_units.course_root())}")
    return 0


def _cmd_grade(args):
    from course.grading import grade_notebooks

    progress = None
    if not args.json and len(args.notebooks) > 1:
        from tqdm import tqdm

        progress = lambda it: tqdm(it, desc="grading", unit="notebook")  # noqa: E731
    try:
        results = grade_notebooks(args.notebooks, timeout=args.timeout, unit=args.unit, progress=progress)
    except Exception as e:  # grading itself could not run (no source, no nbgrader, ...)
        print(f"course grade: cannot grade: {type(e).__name__}: {e}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(results, indent=1))
        return 0
    for r in results:
        print(f"{r['notebook']}  [{r['assignment'] or '?'}]  {r['score']:g} / {r['max_score']:g}")
        if r.get("error"):
            print(f"  error: {r['error']}")
        for t in r["tests"]:
            mark = "ok  " if t["score"] >= t["max_score"] else "FAIL"
            line = f"  {mark} {t['grade_id']:<28} {t['score']:g} / {t['max_score']:g}"
            print(line + (f"  {t['error']}" if t["error"] and t["score"] < t["max_score"] else ""))
    return 0


def _port_free(port):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _cmd_lab(args):
    root = course_units.course_root()
    if not _port_free(args.port):
        print(f"course lab: port {args.port} is already in use (another JupyterLab?). "
              f"Open it, stop it, or choose another port: course lab --port {args.port + 1}", file=sys.stderr)
        return 1
    first = course_units.units(root)[0].lecture.relative_to(root)
    cmd = [sys.executable, "-m", "jupyter", "lab", f"--port={args.port}", "--port-retries=0",
           f"--ServerApp.root_dir={root}"]
    if args.no_browser:
        cmd += ["--no-browser", f"--ip={args.ip}"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")  # Jupyter refuses to run as root without it
    cmd += args.extra + [str(first)]
    print("course lab:", " ".join(cmd), flush=True)
    return subprocess.call(cmd, cwd=root)


def main(argv=None):
    p = argparse.ArgumentParser(prog="course", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("release", help="regenerate exercises/ from solutions/")
    r.add_argument("unit", nargs="*", help="units to release (default: all)")
    r.add_argument("--check", action="store_true", help="only check that exercises/ is in sync")
    r.set_defaults(func=_cmd_release)

    g = sub.add_parser("grade", help="grade student notebooks with nbgrader's autograder")
    g.add_argument("notebooks", nargs="+", metavar="NOTEBOOK")
    g.add_argument("--json", action="store_true", help="print one JSON list, one object per notebook")
    g.add_argument("--timeout", type=int, default=60, help="execution limit per cell, seconds (default 60)")
    g.add_argument("--unit", help="expected unit, e.g. 06_lstm: notebooks of other units get an error")
    g.set_defaults(func=_cmd_grade)

    lab = sub.add_parser("lab", help="start JupyterLab on the course at the first lecture")
    lab.add_argument("--no-browser", action="store_true", help="headless: don't open a browser (servers)")
    lab.add_argument("--port", type=int, default=8888)
    lab.add_argument("--ip", default="127.0.0.1", help="address to listen on with --no-browser")
    lab.add_argument("extra", nargs=argparse.REMAINDER, help="further options for jupyter lab")
    lab.set_defaults(func=_cmd_lab)

    args = p.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
