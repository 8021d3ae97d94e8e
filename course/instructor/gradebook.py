"""Opening the gradebook: a SQLite file or a PostgreSQL server, the same for every command.

The course's own gradebook is ``gradebook.db`` in the course directory (:func:`default_db`).

``--db`` takes a path, a ``sqlite:///`` URL or a ``postgresql://user[:password]@host[:port]/db``
URL (nbgrader's ``db_url``); PostgreSQL is reached through psycopg 3 (``postgresql+psycopg://``
for SQLAlchemy, which :func:`course.grading.nbgrader.db_url`, the one place a gradebook's URL is
made, writes for you). Every instructor's command opens the gradebook with :func:`open_gradebook`.

**The schema is made once, before anyone writes.** nbgrader's ``Gradebook`` creates its tables
and its ``alembic_version`` row when it finds an empty database; two processes opening a new
PostgreSQL database at once can both find it empty and collide. :func:`prepare` does that first
opening under a PostgreSQL advisory lock (one opener at a time, for every process on every
machine); the instructor's commands call it before grading starts.

**Concurrent writers** each write one student's rows in a transaction of their own (see
``course.instructor.autograding``): PostgreSQL serialises them per row, so none corrupts or loses another's.

A server that is down, a wrong password, a database that does not exist: :class:`GradebookError`,
one line that says which and what to do, not a traceback.
"""

import zlib
from pathlib import Path

from course.errors import CourseError
from course.grading import nbgrader

#: The advisory lock under which a new gradebook gets its schema (any constant; ours is "course-gradebook").
_SCHEMA_LOCK = zlib.crc32(b"course-gradebook")
_prepared = set()


class GradebookError(CourseError):
    """The gradebook could not be opened; the message says why and what to try."""


def default_db(root):
    """The gradebook of the course at ``root`` when none is given: ``sqlite:///<root>/gradebook.db``."""
    return nbgrader.db_url(Path(root) / "gradebook.db")


def is_server(db):
    return nbgrader.db_url(db).startswith("postgresql")


def _shown(db_url):
    """The URL without its password (for messages)."""
    from sqlalchemy.engine import make_url

    return make_url(db_url).render_as_string(hide_password=True)


def _reason(error, db_url):
    """One line for a failed connection: down, refused login, or no such database."""
    text = str(getattr(error, "orig", None) or error)
    where = _shown(db_url)
    if "password authentication failed" in text or "no password supplied" in text:
        return f"the gradebook server refused the login ({where}): check the user name and password in --db"
    if "does not exist" in text and "database" in text:
        return f"the gradebook database does not exist ({where}): create it first (createdb NAME)"
    if "role" in text and "does not exist" in text:
        return f"the gradebook server has no such user ({where}): check the user name in --db"
    if any(s in text for s in ("Connection refused", "could not connect", "No such file", "timeout", "resolve host")):
        return f"cannot reach the gradebook server ({where}): is PostgreSQL running, and is the host and port right?"
    return (
        f"cannot open the gradebook {where}: {text.strip().splitlines()[0] if text.strip() else type(error).__name__}"
    )


def prepare(db):
    """Check that the gradebook ``db`` can be opened and give it nbgrader's schema, once; returns its URL.

    Raises GradebookError (one line) when the server is down, the login is refused or the
    database is missing.
    """
    db_url = nbgrader.db_url(db)
    if db_url in _prepared:
        return db_url
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import DBAPIError

    nbgrader.prepare_env()  # (nbgrader runs alembic when it makes a new gradebook)
    try:
        if is_server(db_url):
            engine = create_engine(db_url, connect_args={"connect_timeout": 10})
            with engine.connect() as conn:  # held across nbgrader's first opening: one opener at a time
                conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _SCHEMA_LOCK})
                try:
                    nbgrader.gradebook(db_url).close()
                    # nbgrader's commands use course id "" and never add its row (SQLite does not
                    # check foreign keys; PostgreSQL does): add it once, here
                    conn.execute(text("INSERT INTO course (id) VALUES ('') ON CONFLICT DO NOTHING"))
                    conn.commit()
                finally:
                    conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _SCHEMA_LOCK})
            engine.dispose()
        else:
            nbgrader.gradebook(db_url).close()
    except DBAPIError as e:
        raise GradebookError(_reason(e, db_url)) from None
    _prepared.add(db_url)
    return db_url


def open_gradebook(db, course_id="default_course"):
    """nbgrader's ``Gradebook`` on ``db``, prepared (:func:`prepare`) first; use it in a ``with``."""
    return nbgrader.gradebook(prepare(db), course_id)
