"""The ``course`` command: release, grade, lab, site.

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
  course grades [--csv FILE]  student x unit table of scores, per test
  course grades --canvas FILE --roster roster.csv   (or --moodle FILE) grades for the LMS's import
"""

import argparse
import json
import sys

from course import units as course_units

COURSE_HELP = (
    "nbgrader course directory (default: $COURSE_ROOT, else the nearest folder holding nbgrader_config.py "
    "from here up, else this repository)"
)


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
    from course.grading.outputs import escape_text as esc
    from course.instructor import find_course

    progress = None
    if not args.json and len(args.notebooks) > 1:
        from tqdm import tqdm

        progress = lambda it: tqdm(it, desc="grading", unit="notebook")  # noqa: E731
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
            timeout=args.timeout,
            unit=args.unit,
            progress=progress,
            workers=args.workers,
            limits=_limits(args),
            no_isolation=args.no_isolation,
            wall_timeout=args.notebook_timeout,
        )
    except Exception as e:  # grading itself could not run (no source, no nbgrader, ...)
        print(f"course grade: cannot grade: {type(e).__name__}: {e}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(results, indent=1))
        return 0
    # every field may come from the submission: escaped, so that no message can forge a line
    for r in results:
        print(f"{esc(r['notebook'])}  [{esc(r['assignment'] or '?', 64)}]  {r['score']:g} / {r['max_score']:g}")
        if r.get("isolation"):
            print(f"  isolation: {esc(r['isolation'], 20)}")
        if r.get("error"):
            print(f"  error: {esc(r['error'])}")
        for t in r["tests"]:
            mark = "ok  " if t["score"] >= t["max_score"] else "FAIL"
            line = f"  {mark} {esc(t['grade_id'], 64):<28} {t['score']:g} / {t['max_score']:g}"
            print(line + (f"  {esc(t['error'])}" if t["error"] and t["score"] < t["max_score"] else ""))
    return 0


def _progress(desc):
    from tqdm import tqdm

    return lambda it: tqdm(it, desc=desc, unit="notebook")


def _limits(args):
    from course.grading.sandbox import Limits

    return Limits(memory_mb=args.memory_mb, cpu_s=args.cpu_s)


def _cmd_grade_limits(parser):
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


def _instructor_command(func):
    """Run an instructor command; a mistake in how it was called (CourseError) is one line, status 2."""

    def run(args):
        from course.instructor import CourseError

        try:
            return func(args)
        except CourseError as e:
            print(f"course {args.command}: {e}", file=sys.stderr)
            return 2

    return run


@_instructor_command
def _cmd_collect(args):
    from course.grading.outputs import escape_text as esc
    from course.instructor import collect

    done = collect(args.source, args.unit, root=args.course, replace=args.replace)
    replaced = f" ({len(done.replaced)} replacing an earlier one)" if done.replaced else ""
    print(f"collected {len(done.imported)} submission(s) of {args.unit} into submitted/{replaced}")
    for name in done.replaced:
        print(f"  replaced the earlier submission of {esc(name, 80)}")
    for name, why in done.skipped:
        print(f"  skipped {esc(name, 80)}: {esc(why)}")
    return 0


@_instructor_command
def _cmd_autograde(args):
    from course.grading.sandbox import SandboxError
    from course.instructor import Interrupted, _root, autograde, summary

    try:
        results = autograde(
            args.unit,
            root=args.course,
            workers=args.workers,
            timeout=args.timeout,
            db_url=args.db,
            students=args.student or None,
            progress=_progress(f"autograde {args.unit}"),
            limits=_limits(args),
            scheduler=args.scheduler,
            no_isolation=args.no_isolation,
            wall_timeout=args.notebook_timeout,
        )
    except SandboxError as e:  # no isolation here, and --no-isolation not given
        print(f"course autograde: {e}", file=sys.stderr)
        return 2
    except Interrupted as e:  # Ctrl-C: what was graded is stored; say what
        print(summary(e.results))
        print(f"course autograde: interrupted (Ctrl-C): {e.args[0]}; run it again to grade them all", file=sys.stderr)
        return 130
    print(summary(results))
    print(f"details of every failed test: {_root(args.course) / 'autograde-logs' / (args.unit + '.log')}")
    return 0


@_instructor_command
def _cmd_feedback(args):
    from course.instructor import feedback

    files = feedback(args.unit, root=args.course, db_url=args.db)
    print(f"wrote {len(files)} feedback file(s) under feedback/ (results and messages; hidden tests not shown)")
    return 0


def _cmd_lms(args, rows):
    """``course grades --canvas/--moodle FILE --roster R``: an LMS import file; 1 if a graded student is not in R."""
    from course import lms
    from course.grading.outputs import escape_text as esc
    from course.instructor import _root, default_db

    try:
        with open(args.roster, encoding="utf-8") as f:
            roster = lms.read_roster(f.read())
        points = lms.points_possible(args.db or default_db(_root(args.course)), units=args.unit or None)
        if args.canvas:
            export, target = lms.canvas_csv(rows, roster, points, missing=args.missing), args.canvas
        else:
            export, target = lms.moodle_csv(rows, roster, points, missing=args.missing), args.moodle
    except (OSError, lms.RosterError) as e:
        print(f"course grades: {e}", file=sys.stderr)
        return 2
    with open(target, "w", newline="", encoding="utf-8") as f:
        f.write(export.text)
    print(f"wrote {len(roster)} student(s) x {len(points)} unit(s) to {target}")
    if export.unmatched:
        print(
            f"course grades: {len(export.unmatched)} graded student(s) are not in the roster {args.roster} "
            f"and are NOT in {target}: {', '.join(esc(s, 64) for s in export.unmatched)}",
            file=sys.stderr,
        )
        return 1
    return 0


@_instructor_command
def _cmd_grades(args):
    from course.instructor import grades, grades_csv

    if (args.canvas or args.moodle) and not args.roster:
        print("course grades: --canvas and --moodle need --roster roster.csv (nbgrader id -> LMS ids)", file=sys.stderr)
        return 2
    rows = grades(root=args.course, db_url=args.db, units=args.unit or None)
    if args.canvas or args.moodle:
        return _cmd_lms(args, rows)
    text = grades_csv(rows)
    if args.csv:
        with open(args.csv, "w", newline="") as f:
            f.write(text)
        print(f"wrote {len(rows)} row(s) to {args.csv}")
    else:
        for r in rows:
            print(f"{r['student']:<20} {r['unit']:<24} {r['total']:g} / {r['max_score']:g}")
    return 0


def _cmd_lab(args):
    from course.lab import run_lab

    extra = args.extra[1:] if args.extra[:1] == ["--"] else args.extra
    return run_lab(port=args.port, ip=args.ip, open_browser=not args.no_browser, token=args.token, extra=extra)


def _cmd_hub(args):
    from course.hub import HubSettings, default_subdomain_host, run_hub

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
    from course.site import build_site

    build_site(
        args.out,
        unit_ids=args.unit or None,
        execute=not args.no_execute,
        timeout=args.timeout,
        log=lambda msg: print(msg, flush=True),
    )
    return 0


def main(argv=None):
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
    g.add_argument("--timeout", type=int, default=60, help="execution limit per cell, seconds (default 60)")
    g.add_argument("--unit", help="expected unit, e.g. 06_lstm: notebooks of other units get an error")
    g.set_defaults(func=_cmd_grade)

    g.add_argument("--workers", type=int, default=1, help="notebooks graded at once (default 1)")
    _cmd_grade_limits(g)

    c = sub.add_parser("collect", help="import a folder or zip of submissions into submitted/")
    c.add_argument("source", help="folder or .zip: one folder per student, or <student>.ipynb files")
    c.add_argument("unit", help="unit, e.g. 06_lstm")
    c.add_argument(
        "--replace",
        action="store_true",
        help="replace a student's earlier submission of the unit (default: keep it, and say so)",
    )
    c.add_argument("--course", help=COURSE_HELP)
    c.set_defaults(func=_cmd_collect)

    a = sub.add_parser("autograde", help="grade every submission of a unit into the gradebook")
    a.add_argument("unit")
    a.add_argument("--workers", type=int, default=2, help="submissions graded at once (default 2)")
    a.add_argument("--timeout", type=int, default=60, help="execution limit per cell, seconds (default 60)")
    a.add_argument("--student", action="append", help="grade only this student (repeatable)")
    a.add_argument("--db", help="gradebook URL (default sqlite:///<course>/gradebook.db; or postgresql://user@host/db)")
    a.add_argument(
        "--scheduler",
        help="grade on a Dask cluster: a scheduler's address (tcp://host:8786) or local:N (N worker processes "
        "here); --workers is then ignored (see the README's 'A class of 1,000')",
    )
    a.add_argument("--course", help=COURSE_HELP)
    _cmd_grade_limits(a)
    a.set_defaults(func=_cmd_autograde)

    f = sub.add_parser("feedback", help="nbgrader's HTML feedback for a unit")
    f.add_argument("unit")
    f.add_argument("--db")
    f.add_argument("--course", help=COURSE_HELP)
    f.set_defaults(func=_cmd_feedback)

    gr = sub.add_parser("grades", help="export scores: student x unit, per test")
    out = gr.add_mutually_exclusive_group()
    out.add_argument("--csv", help="write CSV to this file (default: print a table)")
    out.add_argument("--canvas", metavar="FILE", help="write Canvas's gradebook import CSV (needs --roster)")
    out.add_argument("--moodle", metavar="FILE", help="write Moodle's grade import CSV (needs --roster)")
    gr.add_argument("--roster", help="CSV mapping nbgrader ids to LMS ids (columns: see course/lms.py)")
    gr.add_argument(
        "--missing",
        choices=("zero", "blank"),
        default="zero",
        help="grade of a roster student without a submission (default: zero)",
    )
    gr.add_argument("--unit", action="append", help="only this unit (repeatable)")
    gr.add_argument("--db")
    gr.add_argument("--course", help=COURSE_HELP)
    gr.set_defaults(func=_cmd_grades)

    lab = sub.add_parser(
        "lab",
        help="start JupyterLab (with nbgrader's extensions) at your copy of the first lecture; your copies of the "
        "lectures and exercises are made once in my-work/, which git pull never changes",
    )
    lab.add_argument("--no-browser", action="store_true", help="headless: don't open a browser (servers)")
    lab.add_argument("--port", type=int, default=8888)
    lab.add_argument("--ip", default="127.0.0.1", help="address to listen on (0.0.0.0: beyond this machine)")
    lab.add_argument("--token", help="login token (default: a random one, printed in the URL)")
    lab.add_argument("extra", nargs=argparse.REMAINDER, help="further options for jupyter lab, after --")
    lab.set_defaults(func=_cmd_lab)

    h = sub.add_parser("hub", help="run the course on a JupyterHub on this machine (as root; local accounts)")
    h.add_argument("--instructor", action="append", help="instructor account (repeatable); owns the course directory")
    h.add_argument("--student", action="append", help="student account(s), comma-separated or repeated")
    h.add_argument("--course-id", default="rnn", help="nbgrader course id (default: rnn)")
    h.add_argument("--ip", default="127.0.0.1", help="address of the hub (0.0.0.0: beyond this machine)")
    h.add_argument("--port", type=int, default=8000)
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

    args = p.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
