"""The instructor's commands on nbgrader's course directory: collect, autograde, feedback, grades, report, similarity.

Each finds the course as nbgrader does (``--course DIR``, else ``$COURSE_ROOT``, else the nearest
folder holding ``nbgrader_config.py``: :mod:`course.instructor.course_dir`), calls the instructor's
part (:mod:`course.instructor`) and prints what it did; a mistake in how it was called (a
:class:`course.errors.CourseError`) is one line on stderr and status 2. :func:`add_commands` adds
them to the ``course`` command's parser (:mod:`course.programs.cli`).
"""

import argparse
import json
import sys

from course.programs import grading_options

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
            db_url=args.db,
            students=args.student or None,
            progress=grading_options.progress(f"autograde {args.unit}"),
            scheduler=args.scheduler,
            settings=grading_options.settings(args),
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


def add_commands(sub):
    """Add the instructor's subcommands to ``sub`` (the ``course`` parser's subparsers)."""
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
    a.add_argument("--student", action="append", help="grade only this student (repeatable)")
    a.add_argument("--db", help=DB_HELP)
    a.add_argument(
        "--scheduler",
        help="grade on a Dask cluster: a scheduler's address (tls://host:8786) or local:N (N worker processes "
        "here); --workers is then ignored (see the README's 'A class of 1,000')",
    )
    a.add_argument("--course", help=COURSE_HELP)
    grading_options.add_limits(a)
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
