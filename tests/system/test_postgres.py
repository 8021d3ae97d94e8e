"""The gradebook on a real PostgreSQL server (started by the tests on 127.0.0.1, stopped at the end).

The schema is made once even when several processes open a new database at once; concurrent
writers lose no row; re-grading one student touches only that student's rows; ``grades`` and
``feedback`` read it; a server that is down, a refused login and a missing database are one
line each, not a traceback. (The same class graded into SQLite, into PostgreSQL and on a Dask
cluster: tests/system/test_dask.py.)
"""

import subprocess
import sys

import pytest
from servers import Postgres, free_port, why_no_postgres

from course import instructor
from course.programs import cli

from corpus import WRONG_PREDICT, student
from helpers import ROOT

pytestmark = pytest.mark.skipif(why_no_postgres() is not None, reason=str(why_no_postgres()))
UNIT = "01_perceptron"


@pytest.fixture(scope="module")
def postgres():
    server = Postgres().start()
    yield server
    server.stop()


WRITER = """
import sys
from course.instructor import gradebook
url, first, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
with gradebook.open_gradebook(url) as gb:
    for i in range(first, first + n):
        gb.update_or_create_student(f"s{i:03d}", first_name=f"student {i}")
"""


def test_processes_opening_a_new_database_at_once_make_one_schema_and_lose_no_row(postgres):
    url = postgres.create("concurrent")
    writers = [
        subprocess.Popen([sys.executable, "-c", WRITER, url, str(k * 25), "25"], stderr=subprocess.PIPE, text=True)
        for k in range(4)
    ]
    errors = [w.communicate()[1] for w in writers]
    assert all(w.returncode == 0 for w in writers), errors
    import psycopg

    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT count(*) FROM alembic_version").fetchone() == (1,)
        ids = [r[0] for r in conn.execute("SELECT id FROM student ORDER BY id")]
    assert ids == [f"s{i:03d}" for i in range(100)]


def _course(tmp_path, answers):
    """A course folder with unit 01 and one submission per student: {student: notebook bytes}."""
    import shutil

    root = tmp_path / "course"
    (root / "solutions").mkdir(parents=True)
    shutil.copy(ROOT / "nbgrader_config.py", root)
    shutil.copytree(ROOT / "solutions" / UNIT, root / "solutions" / UNIT)
    shutil.copytree(ROOT / "exercises" / UNIT, root / "exercises" / UNIT)
    nb_name = next((ROOT / "solutions" / UNIT).glob("*.ipynb")).name
    for name, content in answers.items():
        d = root / "submitted" / name / UNIT
        d.mkdir(parents=True)
        (d / nb_name).write_bytes(content)
    return root, nb_name


def _grade_rows(url):
    """Every grade row as (id, student, grade name, auto_score), from the server itself."""
    import psycopg

    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT g.id, s.student_id, c.name, g.auto_score FROM grade g JOIN base_cell c ON g.cell_id = c.id"
            " JOIN submitted_notebook n ON g.notebook_id = n.id JOIN submitted_assignment s ON n.assignment_id = s.id"
            " ORDER BY s.student_id, c.name"
        ).fetchall()


def test_regrading_one_student_touches_only_that_students_rows(postgres, tmp_path):
    root, nb_name = _course(tmp_path, {"alice": student(), "bob": student(predict=WRONG_PREDICT)})
    url = postgres.create("regrade")
    instructor.autograde(UNIT, root=root, workers=2, timeout=30, db_url=url)
    before = _grade_rows(url)
    assert {(s, g, a) for _, s, g, a in before} >= {("alice", "perceptron_predict", 2.0)}, before
    (root / "submitted" / "bob" / UNIT / nb_name).write_bytes(student())  # bob fixes his answer
    instructor.autograde(UNIT, root=root, workers=1, timeout=30, db_url=url, students=["bob"])
    after = _grade_rows(url)
    assert [r for r in after if r[1] == "alice"] == [r for r in before if r[1] == "alice"]
    assert [r for r in after if r[1] == "bob"] != [r for r in before if r[1] == "bob"]
    rows = {r["student"]: r["total"] for r in instructor.grades(root=root, db_url=url)}
    assert rows == {"alice": 5.0, "bob": 5.0}
    assert len(instructor.write_feedback(UNIT, root=root, db_url=url)) == 2


@pytest.mark.parametrize(
    "wrong, message",
    [
        ({"password": "not-the-password"}, "refused the login"),
        ({"user": "nobody"}, "refused the login"),
        ({"db": "no_such_course"}, "does not exist"),
        ({"port": "down"}, "cannot reach the gradebook server"),
    ],
)
def test_a_gradebook_that_cannot_be_opened_is_one_clear_line(postgres, capsys, wrong, message):
    kwargs = dict(wrong)
    db = kwargs.pop("db", "postgres")
    if kwargs.get("port") == "down":
        kwargs["port"] = free_port()  # nothing listens there
    url = postgres.url(db, **kwargs)
    assert cli.main(["grades", "--course", str(ROOT), "--db", url]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert "not-the-password" not in err and "gradebook-secret" not in err, "the password must not be shown"


def test_a_postgres_url_is_read_through_psycopg_3_by_every_command_and_nbgraders_api(tmp_path):
    from course.grading.nbgrader import api, db_url

    assert db_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert db_url("/tmp/gradebook.db") == "sqlite:////tmp/gradebook.db"
    assert api(tmp_path, "postgresql://u@h/db").coursedir.db_url == "postgresql+psycopg://u@h/db"
