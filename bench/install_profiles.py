"""Benchmark: each install profile (pyproject.toml's base and extras) built in a fresh venv: size and time.

For each profile, a new venv (outside the repository) and ``pip install -e "COPY[extra]"`` of a copy of
this checkout's files (the working tree's content; the checkout itself and its .venv are never touched),
with pip's own configuration: on the machine this was measured on, its local indexes and wheel folder,
and its cache warm from earlier installs. Reports the size of the venv on disk (``du``), the install
time and the number of distributions; one machine, one run (2 cores, shared: times are rough).
The README's table of profiles comes from this.

    .venv/bin/python bench/install_profiles.py [--python python3.11] [--profiles base,torch,grader,hub,site,test]
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROFILES = ("base", "torch", "grader", "hub", "site", "test")


def copy_checkout(dest):
    """This checkout's files (tracked, and new ones git does not ignore), as in the working tree, into ``dest``."""
    files = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout
    for name in filter(None, files.decode().split("\0")):
        src = ROOT / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    return dest


def size_mb(path):
    out = subprocess.run(["du", "-sm", str(path)], capture_output=True, text=True, check=True).stdout
    return int(out.split()[0])


def build(profile, source, python, work):
    """Install ``profile`` into a fresh venv under ``work``; returns a dict of what was measured."""
    venv = work / f"venv-{profile}"
    subprocess.run([python, "-m", "venv", str(venv)], check=True)
    target = f"{source}[{profile}]" if profile != "base" else str(source)
    start = time.monotonic()
    run = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "-e", target], capture_output=True, text=True)
    seconds = time.monotonic() - start
    freeze = subprocess.run([str(venv / "bin" / "pip"), "freeze"], capture_output=True, text=True).stdout
    result = {
        "profile": profile,
        "ok": run.returncode == 0,
        "seconds": round(seconds, 1),
        "mb": size_mb(venv),
        "distributions": len([line for line in freeze.splitlines() if line and not line.startswith("#")]),
    }
    if run.returncode:
        result["error"] = (run.stderr.strip().splitlines() or ["?"])[-1]
    shutil.rmtree(venv, ignore_errors=True)  # the next profile's venv needs the room
    return result


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--python", default="python3.11", help="the Python that makes the venvs (default python3.11)")
    p.add_argument("--profiles", default=",".join(PROFILES), help="comma-separated (default: all, base first)")
    p.add_argument("--json", action="store_true", help="print one JSON list instead of the table")
    args = p.parse_args(argv)
    profiles = [name.strip() for name in args.profiles.split(",") if name.strip()]
    results = []
    with tempfile.TemporaryDirectory(prefix="install-profiles-") as tmp:
        work = Path(tmp)
        source = copy_checkout(work / "course")
        for profile in profiles:
            results.append(build(profile, source, args.python, work))
            if not args.json:
                r = results[-1]
                state = "ok" if r["ok"] else f"FAILED: {r['error']}"
                print(f"{profile:<8} {r['mb']:>6} MB {r['seconds']:>7.1f} s {r['distributions']:>4} dists  {state}")
    if args.json:
        print(json.dumps(results, indent=1))
    print(
        f"(one run, {os.cpu_count()} cores, {args.python}; pip's configuration and cache as they are)", file=sys.stderr
    )
    return 0 if all(r["ok"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
