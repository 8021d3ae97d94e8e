"""Benchmark: ``course report`` over a class of 1,000 graded submissions (a few seconds is the aim).

Makes a course directory with a real nbgrader gradebook (SQLite) of N students graded on unit 6's
tests, and the kept messages ``course autograde`` writes (a third of the students with one of a few
named mistakes, a few that could not be graded), then times the report from the gradebook to the
HTML page (the command ``course report 06_lstm``). Not a test: timings are noisy.

    .venv/bin/python bench/report_speed.py [--n 1000]
"""

import argparse
import json
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from course.instructor import grades, report  # noqa: E402

UNIT = "06_lstm"
TESTS = {"lstm_step_forward": 2, "lstm_step_backward": 3, "lstm_forward": 2, "lstm_backward": 3}
MISTAKES = [
    "dc_prev does not match torch autograd\n  hint: dc_prev misses the forget gate's factor f",
    "h does not match torch.nn.LSTM; it looks like the gates are read in the order i, f, o, g",
    "dWh does not match; it looks like dWh is summed over only the last step",
]


def make_class(root, n, seed=0):
    from course.instructor.gradebook import open_gradebook

    rng = random.Random(seed)
    (root / "solutions").mkdir(parents=True)
    shutil.copy(ROOT / "nbgrader_config.py", root)
    with open_gradebook(root / "gradebook.db") as gb:
        gb.add_assignment(UNIT)
        gb.add_notebook("lstm", UNIT)
        for name, points in TESTS.items():
            gb.add_grade_cell(name, "lstm", UNIT, max_score=points, cell_type="code")
        for i in range(n):
            student = f"student{i:04d}"
            gb.add_student(student)
            gb.add_submission(UNIT, student)
            failed = rng.choice([None, None, "lstm_step_backward", "lstm_forward", "lstm_backward"])
            tests = []
            for grade in gb.find_submission_notebook("lstm", UNIT, student).grades:
                ok = grade.name != failed
                grade.auto_score = TESTS[grade.name] if ok else 0
                tests.append(
                    {
                        "grade_id": grade.name,
                        "score": grade.auto_score,
                        "max_score": TESTS[grade.name],
                        "error": None if ok else rng.choice(MISTAKES),
                    }
                )
            error = "the kernel died (memory limit)" if rng.random() < 0.01 else None
            folder = root / "autograded" / student / UNIT
            folder.mkdir(parents=True)
            (folder / "course-results.json").write_text(json.dumps({"tests": tests, "error": error}))
        gb.db.commit()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=1000)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "course"
        start = time.perf_counter()
        make_class(root, args.n)
        made = time.perf_counter() - start
        start = time.perf_counter()
        rows = grades(root=root)
        read = time.perf_counter() - start
        start = time.perf_counter()
        path, data = report.write_report(root, UNIT, rows)
        wrote = time.perf_counter() - start
    print(f"class of {args.n}: made in {made:.1f} s (not timed below)")
    print(
        f"course report {UNIT}: gradebook read {read:.2f} s, report and page {wrote:.2f} s, total {read + wrote:.2f} s"
    )
    print(f"top mistake: {data['mistakes'][0]['count']} students: {data['mistakes'][0]['mistake']}")


if __name__ == "__main__":
    main()
