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
  course grades [--csv FILE]  the class: a row per student, a column per unit (--long: per test)
  course grades --canvas FILE --roster roster.csv   (or --moodle FILE) grades for the LMS's import
  course report UNIT          what the class got wrong: scores, tests, the mistakes the checks named (HTML)
  course similarity UNIT      pairs of submissions whose answers are suspiciously alike, for review (HTML)
"""

import argparse
import json
import sys

from course import units as course_units

COURSE_HELP = (
    "nbgrader course directory (default: $COURSE_ROOT, else the nearest folder holding nbgrader_config.py "
    "from here up, else this repository)"
)

DB_HELP = (
    "the gradebook: an SQLAlchemy URL, sqlite:///PATH or postgresql://USER@HOST/DB "
    "(default: sqlite:///<course>/gradebook.db)"
)


def _roster_help():
    from course.instructor.lms import COLUMNS, ROSTER_COLUMNS

    lines = [
        "roster (--roster FILE): a CSV with a header row; columns in any order, case and _/space/- ignored;",
        "only nbgrader_id is required. Canvas needs canvas_id, sis_user_id or sis_login_id per student;",
        "Moodle needs email, id_number or username. Columns (other accepted names in brackets):",
    ]
    for name, aliases in COLUMNS.items():
        also = f" [{', '.join(aliases[1:])}]" if aliases[1:] else ""
        lines.append(f"  {aliases[0]:<14} {ROSTER_COLUMNS[name]}{also}")
    return "\n".join(lines)


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
        progress = _progress("grading")
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
        for note in r.get("notes") or []:
            print(f"  note: {esc(note)}")
        for t in r["tests"]:
            mark = "ok  " if t["score"] >= t["max_score"] else "FAIL"
            line = f"  {mark} {esc(t['grade_id'], 64):<28} {t['score']:g} / {t['max_score']:g}"
            print(line + (f"  {esc(t['error'])}" if t["error"] and t["score"] < t["max_score"] else ""))
    return 0


def _progress(desc):
    """A progress bar on stderr: done / total, rate and ETA (the grader gives tqdm the total)."""
    from tqdm import tqdm

    return lambda it: tqdm(it, desc=desc, unit="notebook", file=sys.stderr, dynamic_ncols=True)


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
        from course.errors import CourseError

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
    from course.grading.cluster import plain_tcp_warning
    from course.grading.sandbox import SandboxError
    from course.instructor import Interrupted, autograde, require_course, summary

    if warning := plain_tcp_warning(args.scheduler):  # a scheduler other accounts here may reach
        print(f"course autograde: {warning}", file=sys.stderr)
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
    print(f"details of every failed test: {require_course(args.course) / 'autograde-logs' / (args.unit + '.log')}")
    print(f"the class at a glance: course report {args.unit}; pairs to review: course similarity {args.unit}")
    return 0


@_instructor_command
def _cmd_feedback(args):
    from course.instructor import write_feedback

    files = write_feedback(args.unit, root=args.course, db_url=args.db)
    print(f"wrote {len(files)} feedback file(s) under feedback/ (results and messages; hidden tests not shown)")
    return 0


def _cmd_lms(args, rows):
    """``course grades --canvas/--moodle FILE --roster R``: an LMS import file; 1 if a graded student is not in R."""
    from course.grading.outputs import escape_text as esc
    from course.instructor import default_db, lms, require_course

    try:
        with open(args.roster, encoding="utf-8") as f:
            roster = lms.read_roster(f.read())
        points = lms.points_possible(args.db or default_db(require_course(args.course)), units=args.unit or None)
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
    from course.instructor import default_db, grades, lms, require_course

    if (args.canvas or args.moodle) and not args.roster:
        print("course grades: --canvas and --moodle need --roster roster.csv (nbgrader id -> LMS ids)", file=sys.stderr)
        return 2
    rows = grades(root=args.course, db_url=args.db, units=args.unit or None)
    if args.canvas or args.moodle:
        return _cmd_lms(args, rows)
    if args.long:
        text, what = lms.per_test_csv(rows), f"{len(rows)} row(s) (student, unit, a column per test)"
    else:
        points = lms.points_possible(args.db or default_db(require_course(args.course)), units=args.unit or None)
        text = lms.class_table_csv(rows, points)
        what = f"{len({r['student'] for r in rows})} student(s) x {len(points)} unit(s)"
    if args.csv:
        with open(args.csv, "w", newline="", encoding="utf-8") as f:
            f.write(text)
        print(f"wrote {what} to {args.csv}")
    else:
        _print_table(text)
    return 0


def _print_table(csv_text):
    """A CSV's rows as aligned columns on the terminal (every cell escaped: names come from students)."""
    import csv
    import io

    from course.grading.outputs import escape_text as esc

    table = [[esc(cell, 40) for cell in row] for row in csv.reader(io.StringIO(csv_text))]
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))] if table else []
    for row in table:
        print("  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths))))


@_instructor_command
def _cmd_report(args):
    from course.instructor import grades, report, require_course

    root = require_course(args.course)
    rows = grades(root=root, db_url=args.db)
    if not any(r["unit"] == args.unit for r in rows):
        print(
            f"course report: no graded submission of {args.unit} in the gradebook (run course autograde first)",
            file=sys.stderr,
        )
        return 2
    if args.json:
        print(json.dumps(report.class_report(root, args.unit, rows), indent=1))
        return 0
    path, data = report.write_report(root, args.unit, rows, out=args.out)
    top = data["mistakes"][:3]
    print(f"wrote {path} (for you only: mode 0600); open it in a browser")
    for m in top:
        print(f"  {m['count']} student(s), {m['test']}: {m['mistake'][:100]}")
    return 0


@_instructor_command
def _cmd_similarity(args):
    from course.instructor import require_course, similarity

    root = require_course(args.course)
    if args.json:
        _, pairs = similarity.unit_similarity(root, args.unit)
        print(json.dumps(similarity.as_json(pairs), indent=1))
        return 0
    path, pairs = similarity.write_report(root, args.unit, out=args.out)
    flagged = [p for p in pairs if p.flagged]
    print(f"{len(flagged)} of {len(pairs)} pairs flagged for a look (never a verdict); wrote {path} (mode 0600)")
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
    """The ``course`` command's argument parser (every option documented: tests/test_cli.py)."""
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
    a.add_argument("--db", help=DB_HELP)
    a.add_argument(
        "--scheduler",
        help="grade on a Dask cluster: a scheduler's address (tls://host:8786) or local:N (N worker processes "
        "here); --workers is then ignored (see the README's 'A class of 1,000')",
    )
    a.add_argument("--course", help=COURSE_HELP)
    _cmd_grade_limits(a)
    a.set_defaults(func=_cmd_autograde)

    f = sub.add_parser("feedback", help="nbgrader's HTML feedback for a unit")
    f.add_argument("unit")
    f.add_argument("--db", help=DB_HELP)
    f.add_argument("--course", help=COURSE_HELP)
    f.set_defaults(func=_cmd_feedback)

    gr = sub.add_parser(
        "grades",
        help="export scores: a student x unit table, per test, or for Canvas/Moodle",
        description="Scores from the gradebook. Default: the class table (a row per student, a column per "
        "unit, total, max) printed, or written with --csv; --long: a row per student and unit, a column "
        "per test. --canvas/--moodle write the LMS's grade import file and need --roster.",
        epilog=_roster_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    out = gr.add_mutually_exclusive_group()
    out.add_argument("--csv", metavar="FILE", help="write the table as CSV to this file (default: print it)")
    out.add_argument("--canvas", metavar="FILE", help="write Canvas's gradebook import CSV (needs --roster)")
    out.add_argument("--moodle", metavar="FILE", help="write Moodle's grade import CSV (needs --roster)")
    gr.add_argument("--long", action="store_true", help="a row per student and unit, a column per test")
    gr.add_argument("--roster", metavar="FILE", help="CSV mapping nbgrader ids to LMS ids (columns: below)")
    gr.add_argument(
        "--missing",
        choices=("zero", "blank"),
        default="zero",
        help="grade of a roster student without a submission (default: zero)",
    )
    gr.add_argument("--unit", action="append", help="only this unit (repeatable)")
    gr.add_argument("--db", help=DB_HELP)
    gr.add_argument("--course", help=COURSE_HELP)
    gr.set_defaults(func=_cmd_grades)

    for name, func, what in (
        ("report", _cmd_report, "what a graded class got wrong: scores, pass rate per test, the mistakes named"),
        ("similarity", _cmd_similarity, "pairs of submissions whose answers are suspiciously alike, for you to review"),
    ):  # an instructor's page on a unit, reports/NAME-UNIT.html
        page = sub.add_parser(name, help=f"{what} (HTML, yours only)")
        page.add_argument("unit", help="unit, e.g. 06_lstm")
        page.add_argument("--json", action="store_true", help="print the figures as JSON instead of writing the page")
        page.add_argument("--out", metavar="FILE", help=f"where to write the page (default: reports/{name}-UNIT.html)")
        if name == "report":
            page.add_argument("--db", help=DB_HELP)
        page.add_argument("--course", help=COURSE_HELP)
        page.set_defaults(func=func)

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
    try:
        return args.func(args)
    except KeyboardInterrupt:  # Ctrl-C: one line, the shell's status for SIGINT
        print(f"\ncourse {args.command}: interrupted (Ctrl-C)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
