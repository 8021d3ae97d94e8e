"""The adapter to nbgrader: one way to make its API object, one way to run generate_assignment, one
way to name and open a gradebook (:func:`db_url`, :func:`gradebook`; the instructor's commands open
theirs through ``course.instructor.gradebook.open_gradebook``, which gives it its schema first).

Used by grading (a throw-away course per unit), by the instructor's pipeline (the real
course directory) and by release.
"""

import logging
import os
import sys
import threading
import warnings
from pathlib import Path

# nbgrader's converters chdir() into the course for their run: the working directory is the
# process's, so two threads converting at once would leave it in the other's (temporary) course.
_CONVERTING = threading.Lock()


def prepare_env():
    """What nbgrader needs of this process: ``alembic`` on PATH, its SQL chatter silenced."""
    bindir = str(Path(sys.executable).parent)
    if bindir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")
    warnings.filterwarnings("ignore", module="nbgrader")  # SQLAlchemy chatter inside the gradebook


def db_url(db):
    """The SQLAlchemy URL of gradebook ``db``: a path (a SQLite file), a ``sqlite:`` URL, or a
    ``postgresql://`` URL (reached through psycopg 3: ``postgresql+psycopg://``)."""
    db = str(db)
    if db.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + db.split("://", 1)[1]
    if db.startswith(("sqlite:", "postgresql+")):
        return db
    return f"sqlite:///{db}"


def gradebook(db, course_id="default_course"):
    """nbgrader's ``Gradebook`` on ``db`` (:func:`db_url`), as is; use it in a ``with``."""
    from nbgrader.api import Gradebook

    return Gradebook(db_url(db), course_id)


def api(root, db, source=None, release=None, timeout=None, kernel=None, exchange=None):
    """nbgrader's ``NbGraderAPI`` on course directory ``root`` with gradebook ``db``."""
    from nbgrader.apps.api import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config import Config

    prepare_env()
    cfg = Config()
    cfg.CourseDirectory.root = str(root)
    cfg.CourseDirectory.db_url = db_url(db)
    cfg.CourseDirectory.include = ["*.ipynb"]
    if source is not None:
        cfg.CourseDirectory.source_directory = str(source)
    if release is not None:
        cfg.CourseDirectory.release_directory = str(release)
    exchange = Path(exchange) if exchange else Path(root) / "exchange"
    exchange.mkdir(parents=True, exist_ok=True)  # unused here, but nbgrader checks it
    cfg.Exchange.root = str(exchange)
    if timeout is not None:
        cfg.Execute.timeout = int(timeout)
    if kernel is not None:
        cfg.Execute.kernel_name = kernel
    cfg.NbGraderAPI.log_level = logging.ERROR
    return NbGraderAPI(coursedir=CourseDirectory(config=cfg), config=cfg)


def generate_assignment(root, db, unit, source=None, release=None, exchange=None):
    """nbgrader's generate_assignment of ``unit`` (records its cells in the gradebook ``db``)."""
    with _CONVERTING:
        result = api(root, db, source=source, release=release, exchange=exchange).generate_assignment(unit)
    if not result.get("success"):
        raise RuntimeError(f"nbgrader generate_assignment failed for {unit}:\n{result.get('error')}")
    return result
