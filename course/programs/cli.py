"""The course, from the command line: students and instructors alike, then the instructor's commands.

  course release              regenerate exercises/ from solutions/ (nbgrader)
  course release --check      fail if exercises/ is out of sync with solutions/
  course grade NB... [--json] grade student notebooks of any unit
  course lab [--no-browser]   JupyterLab at your copy of the first lecture (your work: my-work/)
  course site [--no-execute]  the course website (lectures as HTML, offline) into site/
  course hub --instructor T --student A,B   the course on a JupyterHub on this machine (root)

instructors, on nbgrader's course directory (--course DIR, else $COURSE_ROOT, else the nearest
folder holding nbgrader_config.py from here up, else this repository):
  course collect SOURCE UNIT  import a folder or zip of submissions into submitted/
  course autograde UNIT       grade every submission of UNIT into the gradebook, in parallel
  course feedback UNIT        feedback per student into feedback/ (results and messages, no hidden tests)
  course grades [--csv FILE]  the class: a row per student, a column per unit (--long: per test)
  course grades --canvas FILE --roster roster.csv   (or --moodle FILE) grades for the LMS's import
  course report UNIT          what the class got wrong: scores, tests, the mistakes the checks named (HTML)
  course similarity UNIT      pairs of submissions whose answers are suspiciously alike, for review (HTML)
"""

import argparse
import json
import sys

from course import units as course_units
from course.programs import course_commands, extras, grading_options


def _cmd_release(args):
    from course.instructor.release import out_of_sync, release

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
    from course.grading.outputs import escape_text as esc
    from course.instructor import find_course

    progress = None
    if not args.json:  # grading one notebook takes seconds to a minute: say so at once
        print(f"course grade: grading {len(args.notebooks)} notebook(s), seconds to a minute each", file=sys.stderr)
        progress = grading_options.progress("grading")
    root = find_course()  # the course around the working directory, as nbgrader finds it
    if not course_units.has_solutions(root):  # a student's copy (on the hub): the released exercises only
        print(
            "course grade: no solutions/ in this copy of the course: only the visible tests run "
            "(the hidden ones run when your instructor grades your submission)",
            file=sys.stderr,
        )
    try:
        results = grade_notebooks(
            args.notebooks,
            root=root,
            unit=args.unit,
            progress=progress,
            workers=args.workers,
            settings=grading_options.settings(args),
        )
    except Exception as e:  # grading itself could not run (no source, no nbgrader, ...)
        print(f"course grade: cannot grade: {type(e).__name__}: {e}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps([r.to_dict() for r in results], indent=1))
        return 0
    # every field may come from the submission: escaped, so that no message can forge a line
    for r in results:
        print(f"{esc(r['notebook'])}  [{esc(r['assignment'] or '?', 64)}]  {r['score']:g} / {r['max_score']:g}")
        if r.get("isolation"):
            print(f"  isolation: {esc(r['isolation'], 20)}")
        if r.get("error"):
            print(f"  error: {esc(r['error'])}")
        for note in r.get("notes") or []:
            print(f"  note: {esc(note)}")
        for t in r["tests"]:
            mark = "ok  " if t["score"] >= t["max_score"] else "FAIL"
            line = f"  {mark} {esc(t['grade_id'], 64):<28} {t['score']:g} / {t['max_score']:g}"
            print(line + (f"  {esc(t['error'])}" if t["error"] and t["score"] < t["max_score"] else ""))
    return 0


def _cmd_lab(args):
    from course.programs.lab import run_lab

    extra = args.extra[1:] if args.extra[:1] == ["--"] else args.extra
    return run_lab(port=args.port, ip=args.ip, open_browser=not args.no_browser, token=args.token, extra=extra)


def _cmd_hub(args):
    from course.programs.hub import HubSettings, default_subdomain_host, run_hub

    subdomain_host = "" if args.no_subdomains else args.subdomain_host or default_subdomain_host(args.ip, args.port)
    settings = HubSettings(
        instructors=args.instructor or [],
        students=[n for group in args.student or [] for n in group.replace(",", " ").split()],
        course_id=args.course_id,
        ip=args.ip,
        port=args.port,
        hub_port=args.hub_port,
        proxy_api_port=args.proxy_api_port,
        state=args.state,
        exchange=args.exchange,
        subdomain_host=subdomain_host,
    )
    return run_hub(settings, source=args.course)


def _cmd_site(args):
    from course.programs.site import build_site

    build_site(
        args.out,
        unit_ids=args.unit or None,
        execute=not args.no_execute,
        timeout=args.timeout,
        log=lambda msg: print(msg, flush=True),
    )
    return 0


def parser():
    """The ``course`` command's argument parser (every option documented: tests/instructor/test_cli.py)."""
    p = argparse.ArgumentParser(
        prog="course", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("release", help="regenerate exercises/ from solutions/")
    r.add_argument("unit", nargs="*", help="units to release (default: all)")
    r.add_argument("--check", action="store_true", help="only check that exercises/ is in sync")
    r.set_defaults(func=_cmd_release)

    g = sub.add_parser("grade", help="grade student notebooks with nbgrader's autograder")
    g.add_argument("notebooks", nargs="+", metavar="NOTEBOOK")
    g.add_argument("--json", action="store_true", help="print one JSON list, one object per notebook")
    g.add_argument("--unit", help="expected unit, e.g. 06_lstm: notebooks of other units get an error")
    g.add_argument("--workers", type=int, default=1, help="notebooks graded at once (default 1)")
    grading_options.add_limits(g)
    g.set_defaults(func=_cmd_grade)

    course_commands.add_commands(sub)

    lab = sub.add_parser(
        "lab",
        help="start JupyterLab (with nbgrader's extensions) at your copy of the first lecture; your copies of the "
        "lectures and exercises are made once in my-work/, which git pull never changes",
    )
    lab.add_argument("--no-browser", action="store_true", help="headless: don't open a browser (servers)")
    lab.add_argument("--port", type=int, default=8888, help="port to listen on (default 8888)")
    lab.add_argument("--ip", default="127.0.0.1", help="address to listen on (0.0.0.0: beyond this machine)")
    lab.add_argument("--token", help="login token (default: a random one, printed in the URL)")
    lab.add_argument("extra", nargs=argparse.REMAINDER, help="further options for jupyter lab, after --")
    lab.set_defaults(func=_cmd_lab)

    h = sub.add_parser("hub", help="run the course on a JupyterHub on this machine (as root; local accounts)")
    h.add_argument("--instructor", action="append", help="instructor account (repeatable); owns the course directory")
    h.add_argument("--student", action="append", help="student account(s), comma-separated or repeated")
    h.add_argument("--course-id", default="rnn", help="nbgrader course id (default: rnn)")
    h.add_argument("--ip", default="127.0.0.1", help="address of the hub (0.0.0.0: beyond this machine)")
    h.add_argument("--port", type=int, default=8000, help="the hub's public port (default 8000)")
    h.add_argument("--hub-port", type=int, default=8081, help="the hub's internal port (127.0.0.1)")
    h.add_argument("--proxy-api-port", type=int, default=8001, help="the proxy's API port (127.0.0.1)")
    h.add_argument("--state", default="/srv/course-hub", help="the hub's database, secrets and logs")
    h.add_argument("--exchange", default="/srv/nbgrader/exchange", help="nbgrader's exchange, shared by all")
    h.add_argument(
        "--subdomain-host",
        help="serve each user from a subdomain of this URL (default on loopback: "
        "http://hub.localhost:PORT); needed for the formgrader's panel",
    )
    h.add_argument("--no-subdomains", action="store_true", help="one origin for all (formgrader in a browser tab)")
    h.add_argument("--course", help="the course to copy into the instructor's home (default: this repository)")
    h.set_defaults(func=_cmd_hub)

    st = sub.add_parser("site", help="build the course website (lectures as HTML, offline) into a folder")
    st.add_argument("--out", help="output folder (default: site/ in the course)")
    st.add_argument("--unit", action="append", help="only this unit (repeatable; default: all)")
    st.add_argument(
        "--no-execute",
        action="store_true",
        help="don't execute the lectures (fast; figures only from cached executions)",
    )
    st.add_argument("--timeout", type=int, default=600, help="execution limit per cell, seconds (default 600)")
    st.set_defaults(func=_cmd_site)

    return p


def main(argv=None):
    args = parser().parse_args(argv)
    if line := extras.missing(args.command):  # an extra not installed: which one, before any work
        print(line, file=sys.stderr)
        return 2
    try:
        return args.func(args)
    except KeyboardInterrupt:  # Ctrl-C: one line, the shell's status for SIGINT
        print(f"\ncourse {args.command}: interrupted (Ctrl-C)", file=sys.stderr)
        return 130
    except ModuleNotFoundError as e:  # one of the extra's modules failing as it is used (any other: a bug)
        if (line := extras.explain(args.command, e)) is None:
            raise
        print(line, file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
