"""The hub's exchange: what is collected was written by the student it names, at a time the OS recorded.

Real local accounts that the tests make and remove (prefix ``h2-``): an instructor and two students,
alice and mallory, on an exchange in a temporary folder, configured as the hub configures every
account (``deploy/jupyterhub/etc-jupyter/``: ``course.instructor.exchange``'s collect). Each command runs as its
account in the view its server has on the hub (``course.programs.hub.as_user``), as in tests/system/test_hub.py; no
hub runs, so nbgrader's own authenticator stands in for JupyterHub's groups.

Needs root (it creates accounts); without it, or without useradd/runuser, it SKIPS and says why.
"""

import os
import pwd
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from nbgrader.utils import parse_utc

from course.programs import hub as course_hub

MARK = "course exchange test account"  # GECOS of the accounts made here (and only those are removed)
TEACHER, ALICE, MALLORY = "h2-teacher", "h2-alice", "h2-mallory"
COURSE, UNIT, NB = "rnn", "u1", "nb.ipynb"
NO_HUB = "--Authenticator.plugin_class=nbgrader.auth.NoAuthPlugin"  # no hub to ask for the course's groups
ALICES = '{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5, "who": "alice, correct"}'
STUB = '{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5, "who": "a stub"}'


def _remove_account(name):
    try:
        pw = pwd.getpwnam(name)
    except KeyError:
        return
    if pw.pw_gecos != MARK:
        pytest.fail(f"an account {name} exists that this test did not make; remove or rename it")
    for entry in os.listdir("/proc"):  # whatever still runs as the account ends first
        try:
            if entry.isdigit() and os.stat(f"/proc/{entry}").st_uid == pw.pw_uid:
                os.kill(int(entry), signal.SIGKILL)
        except OSError:
            pass
    subprocess.run(["userdel", "-r", name], capture_output=True)


@pytest.fixture(scope="module")
def accounts():
    if os.geteuid() != 0:
        pytest.skip("needs root: it creates local accounts (useradd) and runs nbgrader as each of them")
    for tool in ("useradd", "userdel", "runuser"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} not found (Debian: passwd and util-linux)")
    try:
        for name in (TEACHER, ALICE, MALLORY):
            _remove_account(name)  # left over from an interrupted run
            subprocess.run(["useradd", "--create-home", "--shell", "/bin/bash", "-c", MARK, name], check=True)
            os.chmod(pwd.getpwnam(name).pw_dir, 0o700)
        yield
    finally:
        for name in (TEACHER, ALICE, MALLORY):
            _remove_account(name)


class Class:
    """An exchange in a temporary folder, the instructor's course with unit ``u1`` released into it."""

    def __init__(self, top):
        self.exchange = top / "exchange"
        self.settings = course_hub.HubSettings(instructors=[TEACHER], exchange=str(self.exchange))
        self.course = Path(pwd.getpwnam(TEACHER).pw_dir) / "course"
        self.inbound = self.exchange / COURSE / "inbound"
        self.view = course_hub.user_view()

    def run(self, name, *args, check=True, cwd=None):
        """``args`` run as account ``name`` in its server's view, in its home (the course, for the instructor)."""
        cwd = cwd or (self.course if name == TEACHER else pwd.getpwnam(name).pw_dir)
        r = subprocess.run(
            args,
            preexec_fn=course_hub.as_user(name, self.view, cwd=str(cwd)),
            env=course_hub.user_env(name, self.settings),
            capture_output=True,
            text=True,
            timeout=120,
        )
        if check and r.returncode != 0:
            pytest.fail(f"{' '.join(args)} as {name} failed ({r.returncode}):\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")
        return r

    def nbgrader(self, name, *args, **kw):
        return self.run(name, str(Path(sys.executable).parent / "nbgrader"), *args, NO_HUB, **kw)

    def make_course(self):
        pw = pwd.getpwnam(TEACHER)
        (self.course / "release" / UNIT).mkdir(parents=True)
        (self.course / "release" / UNIT / NB).write_text(STUB)
        (self.course / "nbgrader_config.py").write_text(
            f"c = get_config()  # noqa\nc.CourseDirectory.root = {str(self.course)!r}\n"
            f"c.CourseDirectory.course_id = {COURSE!r}\n"
            # as course hub's copy of the course has it: notebooks, and the two files release_feedback reads
            'c.CourseDirectory.include = ["*.ipynb", "timestamp.txt", "submission_secret.txt"]\n'
        )
        subprocess.run(["chown", "-R", f"{pw.pw_uid}:{pw.pw_gid}", str(self.course)], check=True)

    def submit(self, name, text, *extra):
        """``name`` fetches the unit, writes ``text`` as its notebook, and runs ``nbgrader submit`` (with ``extra``)."""
        self.nbgrader(name, "fetch_assignment", UNIT, "--course", COURSE)
        path = Path(pwd.getpwnam(name).pw_dir) / COURSE / UNIT / NB
        path.write_text(text)
        pw = pwd.getpwnam(name)
        os.chown(path, pw.pw_uid, pw.pw_gid)
        self.nbgrader(name, "submit", UNIT, "--course", COURSE, *extra)

    def write_entry(self, name, entry, text, timestamp):
        """An inbound entry written by hand by account ``name``: ``entry/nb.ipynb`` and ``entry/timestamp.txt``."""
        script = (
            'mkdir "$1" && printf %s "$2" > "$1/nb.ipynb" && printf %s "$3" > "$1/timestamp.txt" && chmod -R a+rX "$1"'
        )
        self.run(name, "sh", "-c", script, "sh", str(self.inbound / entry), text, timestamp)

    def collected(self, student):
        return self.course / "submitted" / student / UNIT


@pytest.fixture
def klass(accounts):
    """A fresh exchange and course for each test (removed afterwards)."""
    top = Path(tempfile.mkdtemp(prefix="course-exchange-test-"))
    os.chmod(top, 0o755)  # every account reaches the exchange inside
    k = Class(top)
    try:
        course_hub.prepare_exchange(k.exchange)
        yield k
    finally:
        shutil.rmtree(top, ignore_errors=True)
        shutil.rmtree(k.course, ignore_errors=True)
        for name in (ALICE, MALLORY):
            shutil.rmtree(Path(pwd.getpwnam(name).pw_dir) / COURSE, ignore_errors=True)


def released(k):
    k.make_course()
    k.nbgrader(TEACHER, "release_assignment", UNIT)
    return k


def refusals(output, *names):
    """The lines of ``output`` that say an entry was not collected and name every one of ``names``."""
    return [line for line in output.splitlines() if "not collected" in line and all(n in line for n in names)]


# ------------------------------------------------------------------ who handed it in
def test_nbgrader_collect_and_the_formgraders_use_the_courses_collect():
    """Both build their collect with nbgrader's ExchangeFactory, configured for every account of the hub."""
    from nbgrader.exchange import ExchangeFactory
    from traitlets.config.loader import PyFileConfigLoader

    from course.instructor.exchange import AuthenticatedCollect

    config = PyFileConfigLoader("nbgrader_config.py", path=str(course_hub.USER_CONFIG)).load_config()
    assert ExchangeFactory(config=config).collect is AuthenticatedCollect


@pytest.mark.parametrize("how", ["nbgrader submit --student", "an inbound entry written by hand"])
def test_a_submission_in_a_classmates_name_is_refused_and_theirs_collected(klass, how):
    k = released(klass)
    k.submit(ALICE, ALICES)
    if how == "nbgrader submit --student":
        k.submit(MALLORY, STUB, "--student", ALICE)
    else:  # named for alice, timed in the future: nbgrader's collect takes it as her newest
        k.write_entry(MALLORY, f"{ALICE}+{UNIT}+2099-01-01 00:00:00.000000 UTC+forged", STUB, "2099-01-01 00:00:00 UTC")
    r = k.nbgrader(TEACHER, "collect", UNIT)
    out = r.stdout + r.stderr
    assert (k.collected(ALICE) / NB).read_text() == ALICES, f"alice's own notebook was not the one collected:\n{out}"
    assert (k.collected(ALICE) / "submission_secret.txt").is_file()  # release_feedback files her feedback by it
    assert len(refusals(out, ALICE, MALLORY)) == 1, f"one line should name the forged entry and its writer:\n{out}"
    assert not k.collected(MALLORY).exists()
    assert "handed in at" not in out, f"alice's honest hand-in time should pass without a word:\n{out}"


def test_a_forged_hand_in_time_gives_way_to_the_time_the_os_recorded(klass):
    k = released(klass)
    forged = "2020-01-01 00:00:00.000000 UTC"  # long before the due date
    k.write_entry(ALICE, f"{ALICE}+{UNIT}+{forged}+early", ALICES, forged)
    now = datetime.utcnow()
    r = k.nbgrader(TEACHER, "collect", UNIT)
    out = r.stdout + r.stderr
    kept = parse_utc((k.collected(ALICE) / "timestamp.txt").read_text())
    assert abs(kept - now) < timedelta(minutes=2), f"kept {kept}, the entry was written at {now}:\n{out}"
    assert (k.collected(ALICE) / NB).read_text() == ALICES  # the work itself is collected
    assert any(forged[:10] in line and ALICE in line for line in out.splitlines()), (
        f"the forged time is not reported:\n{out}"
    )


def test_a_classmates_file_inside_a_students_submission_is_left_out_and_named(klass):
    """Entries are folders anyone may write into who knows the name (nbgrader submit makes them 0777)."""
    k = released(klass)
    k.submit(ALICE, ALICES)
    (entry,) = [e for e in os.listdir(k.inbound) if e.startswith(ALICE + "+")]  # as if mallory learnt its name
    k.run(MALLORY, "sh", "-c", f'printf %s "$1" > "{k.inbound / entry}/extra.ipynb"', "sh", STUB)
    r = k.nbgrader(TEACHER, "collect", UNIT)
    out = r.stdout + r.stderr
    assert (k.collected(ALICE) / NB).read_text() == ALICES
    assert not (k.collected(ALICE) / "extra.ipynb").exists(), "mallory's file was collected as alice's"
    assert len(refusals(out, "extra.ipynb", MALLORY)) == 1, out


def test_an_entry_that_is_a_link_is_refused_without_being_followed(klass):
    """Collected as root, a link to alice's own notebook would hand mallory alice's work."""
    k = released(klass)
    k.submit(ALICE, ALICES)
    alices = Path(pwd.getpwnam(ALICE).pw_dir) / COURSE / UNIT
    k.run(MALLORY, "ln", "-s", str(alices), str(k.inbound / f"{MALLORY}+{UNIT}+2099-01-01 00:00:00.000000 UTC+link"))
    r = k.nbgrader(TEACHER, "collect", UNIT)
    assert len(refusals(r.stdout + r.stderr, MALLORY)) == 1, r.stdout + r.stderr
    assert not k.collected(MALLORY).exists()


# ------------------------------------------------------------------ who owns the course's folders
@pytest.mark.parametrize("squat", ["folder", "symbolic link"])
def test_a_squatted_course_folder_is_replaced_by_the_instructors_and_release_works(klass, squat, capsys):
    k = klass
    mine = k.exchange.parent / "mallorys"  # a folder of mallory's that others may write into
    mine.mkdir()
    os.chmod(mine, 0o777)
    os.chown(mine, pwd.getpwnam(MALLORY).pw_uid, -1)
    if squat == "folder":
        k.run(MALLORY, "mkdir", "-m", "777", str(k.exchange / COURSE), str(k.inbound))
    else:
        k.run(MALLORY, "ln", "-s", str(mine), str(k.exchange / COURSE))
    assert (k.exchange / COURSE).lstat().st_uid == pwd.getpwnam(MALLORY).pw_uid

    course_hub.prepare_exchange(k.exchange, course_id=COURSE, instructor=TEACHER)

    said = capsys.readouterr().err
    assert MALLORY in said and str(k.exchange / COURSE) in said, f"course hub should say what it moved aside: {said!r}"
    teacher = pwd.getpwnam(TEACHER).pw_uid
    modes = {"": 0o755, "outbound": 0o755, "inbound": 0o3733, "feedback": 0o711}
    for sub, mode in modes.items():
        st = (k.exchange / COURSE / sub).lstat()
        assert stat.S_ISDIR(st.st_mode) and st.st_uid == teacher, f"{COURSE}/{sub} is not the instructor's folder"
        assert stat.S_IMODE(st.st_mode) == mode, (
            f"{COURSE}/{sub}: mode {oct(stat.S_IMODE(st.st_mode))}, not {oct(mode)}"
        )
    k.make_course()
    k.nbgrader(TEACHER, "release_assignment", UNIT)
    assert (k.exchange / COURSE / "outbound" / UNIT / NB).is_file()
    assert not (mine / "outbound").exists()  # nothing was released into mallory's folder
    assert k.run(MALLORY, "mkdir", str(k.exchange / COURSE / "outbound" / "u2"), check=False).returncode != 0
