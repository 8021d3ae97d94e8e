"""A term of the course on a real JupyterHub, end to end, in a real browser (``course hub``).

The tests start ``course hub`` (JupyterHub with configurable-http-proxy, PAM logins, each
server run as its user) on 127.0.0.1, with four real local accounts that they create and remove:
an instructor and three students. Headless Chromium (Playwright, as in tests/system/test_browser.py)
drives what people do in the browser, terminals included (JupyterLab's, typed into); what
students B and C do in their terminals is also run as a process of that account in the same view
as its server (``course.programs.hub.as_user``). Screenshots of every step land in test-artifacts/hub/.

The steps of the term are the tests below, in order; once one fails, the later ones are skipped:

1. the instructor's first view has the instructor's tools; they release unit 01 (``nbgrader
   release_assignment``) and see it in JupyterLab's formgrader panel (an iframe: not blank,
   nbgrader #1870); their terminal finds ``nbgrader`` and ``course``;
2. student A logs in at the address JupyterHub's log prints (127.0.0.1) and lands on the course:
   the landing page, the lectures, the Assignments tab, and none of the instructor's tools;
3. A fetches unit 01 in the Assignments tab, answers, validates, grades it in a terminal
   (``course grade``: the visible tests) and submits; student B submits a partly wrong notebook,
   student C a malicious one (it reads other accounts' files and loops forever);
4. the instructor collects (``nbgrader collect``), autogrades (``course autograde``, which grades
   ``submitted/<student>/<unit>/`` in its sandbox), sees the three grades in the formgrader,
   writes feedback (``course feedback``) and releases it (``nbgrader release_feedback``);
5. each student fetches their feedback and finds only their own; A's "(view feedback)" opens it;
6. Ctrl-C stops the hub, its servers and its proxy, quietly.

At every step no student can read another's work or the instructor's course (solutions,
submissions, gradebook): ``runuser -u STUDENT -- cat ...`` fails, and so does the same command in
the student's own view (where the course checkout's solutions/ does not exist).

Needs root (it creates accounts), configurable-http-proxy (``npm install -g
configurable-http-proxy``; .ci/run installs it), JupyterHub (``pip install -e .``) and Chromium;
without one of them it SKIPS and says which. What people do (terminals, pages, the notebooks
they hand in) is in tests/hub_people.py; the hub's configuration is tested piece by piece, without
a hub, in tests/system/test_hub_config.py.
"""

import os
import pwd
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from hub_people import (
    ARTIFACTS,
    COURSE,
    LONG,
    LOOP,
    MARK,
    NB,
    STEAL,
    STUDENTS,
    TEACHER,
    UNIT,
    A,
    B,
    C,
    assignments_tab,
    browser_terminal,
    cannot_read,
    create_assignment_panels,
    fill,
    grades,
    home,
    hub_env_of,
    log_in,
    nbgrader,
    nbgrader_menu,
    open_formgrader,
    server_url,
    shot,
    terminal,
    write_as,
)
from servers import wait_for_http

from course.programs import hub as course_hub
from course.programs.lab import free_port

from browser import (
    chromium_or_skip,
    code_cell,
    launch,
    save,
    solved_answer_cells,
    type_cell,
    validate,
    wait_for_kernel,
)
from helpers import ROOT

pytestmark = pytest.mark.slow

INSTRUCTOR_TOOLS = ("Course List", "Formgrader")  # entries of the Nbgrader menu (and the Create Assignment panel)


def _skip_unless_ready():
    if os.geteuid() != 0:
        pytest.skip("needs root: it creates local accounts (useradd) and runs a hub that starts servers as them")
    for tool in ("useradd", "userdel", "chpasswd", "runuser"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} not found (Debian: passwd and util-linux)")
    if shutil.which("configurable-http-proxy") is None:
        pytest.skip("configurable-http-proxy not found: npm install -g configurable-http-proxy (.ci/run does)")
    pytest.importorskip("jupyterhub", reason='JupyterHub is not installed: pip install -e ".[hub]"')
    chromium_or_skip()


def _pids_of(uid):
    """The processes of ``uid`` still alive: a zombie (state Z) has ended, only its parent has not reaped it yet."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
                if os.stat(f"/proc/{entry}").st_uid == uid and stat.rsplit(")", 1)[1].split()[0] not in "ZX":
                    pids.append(int(entry))
            except (OSError, IndexError):
                pass
    return pids


def _cmdline(pid):
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")[:200]
    except OSError:
        return f"pid {pid} (ended)"


def _remove_account(name):
    try:
        pw = pwd.getpwnam(name)
    except KeyError:
        return
    if pw.pw_gecos != MARK:  # someone else's account of that name: never touched
        pytest.fail(f"an account {name} exists that this test did not make; remove or rename it")
    for _ in range(3):  # whatever still runs as the account (its server, a kernel) ends first
        for pid in _pids_of(pw.pw_uid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.2)
    subprocess.run(["userdel", "-r", name], capture_output=True)


@pytest.fixture(scope="module")
def accounts():
    """The four accounts, with random passwords and homes only they can read; removed at the end."""
    _skip_unless_ready()
    passwords = {}
    try:
        for name in (TEACHER, *STUDENTS):
            _remove_account(name)  # left over from an interrupted run
            subprocess.run(["useradd", "--create-home", "--shell", "/bin/bash", "-c", MARK, name], check=True)
            os.chmod(pwd.getpwnam(name).pw_dir, 0o700)
            passwords[name] = secrets.token_urlsafe(12)
            subprocess.run(["chpasswd"], input=f"{name}:{passwords[name]}\n", text=True, check=True)
        yield passwords
    finally:
        for name in (TEACHER, *STUDENTS):
            _remove_account(name)


def _processes_in(folder):
    """Ids of the processes whose working directory is ``folder`` (the hub and its proxy run in its state folder)."""
    found = []
    for entry in os.listdir("/proc"):
        try:
            if entry.isdigit() and os.readlink(f"/proc/{entry}/cwd") == str(folder):
                found.append(int(entry))
        except OSError:
            pass
    return found


@pytest.fixture(scope="module")
def hub(accounts):
    """``course hub`` on free loopback ports, in a session of its own (as in a terminal: Ctrl-C reaches its
    process group). Yields a namespace: settings, base (the subdomain host's URL), proc, log (its path)."""
    top = Path(tempfile.mkdtemp(prefix="course-hub-test-"))
    os.chmod(top, 0o755)  # the exchange inside must be reachable by every account
    port = free_port()
    settings = course_hub.HubSettings(
        instructors=[TEACHER],
        students=list(STUDENTS),
        course_id=COURSE,
        port=port,
        hub_port=free_port(),
        proxy_api_port=free_port(),
        state=str(top / "state"),
        exchange=str(top / "exchange"),
        subdomain_host=course_hub.default_subdomain_host("127.0.0.1", port),
    )
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for old in [*ARTIFACTS.glob("*.png"), *ARTIFACTS.glob("99-failure-*")]:  # a previous run's
        old.unlink()
    log_path = top / "hub.log"
    log = open(log_path, "w")
    cmd = [str(Path(sys.executable).parent / "course"), "hub", "--instructor", TEACHER, "--student", ",".join(STUDENTS)]
    cmd += ["--course-id", COURSE, "--port", str(port), "--hub-port", str(settings.hub_port)]
    cmd += ["--proxy-api-port", str(settings.proxy_api_port), "--state", settings.state]
    cmd += ["--exchange", settings.exchange, "--course", str(ROOT)]
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for_http(f"http://127.0.0.1:{port}/hub/api/", proc, log_path, timeout=120, what="course hub")
        yield SimpleNamespace(settings=settings, base=settings.subdomain_host, proc=proc, log=log_path)
    finally:
        if proc.poll() is None:
            proc.terminate()  # `course hub` has the hub stop every server, then the proxy, and returns
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        for pid in _processes_in(settings.state):  # a hub or proxy left running by a failure
            os.kill(pid, signal.SIGKILL)
        log.close()
        shutil.copy(log_path, ARTIFACTS / "hub.log")
        shutil.rmtree(top, ignore_errors=True)


# ------------------------------------------------------------------ the term, step by step
@pytest.fixture(scope="module")
def term(hub, accounts):
    """What the steps share: the hub, the browser, each person's page; at the end the console, the timings
    and, after a failure, a screenshot of every page and a listing of the course's and exchange's files."""
    pw = chromium_or_skip()
    settings = hub.settings
    course = course_hub.course_dir(TEACHER, COURSE)
    t = SimpleNamespace(
        hub=hub,
        settings=settings,
        base=hub.base,
        passwords=accounts,
        course=course,
        exchange=Path(settings.exchange) / COURSE,
        solutions=solved_answer_cells(ROOT / "solutions" / UNIT / f"{NB}.ipynb"),
        pages={},
        console=[],
        steps=[],
        failed=None,
        t0=time.monotonic(),
    )
    playwright = pw.sync_playwright().start()
    t.browser = launch(playwright)
    try:
        yield t
    finally:
        if t.failed:
            for i, pg in enumerate(pg for ctx in t.browser.contexts for pg in ctx.pages):
                shot(pg, f"99-failure-{i}")
            (ARTIFACTS / "99-failure-files.txt").write_text(_listing(course, settings.exchange))
        (ARTIFACTS / "console.log").write_text("\n".join(t.console) + "\n")
        (ARTIFACTS / "timing.txt").write_text("\n".join(t.steps) + "\n")
        t.browser.close()
        playwright.stop()


def _listing(course, exchange):
    found = subprocess.run(
        ["find", str(course), str(exchange), "-path", "*/.git", "-prune", "-o", "(", "-path", "*/submitted/*",
         "-o", "-path", "*/autograded/*", "-o", "-path", "*/feedback/*", "-o", "-path", "*/exchange/*", ")", "-ls"],
        capture_output=True, text=True,
    )  # fmt: skip
    return found.stdout


def step(func):
    """A step of the term: skipped once an earlier one failed; its time goes to timing.txt."""

    def run(term):  # the fixture by name (not functools.wraps: pytest would ask for the step's own argument)
        if term.failed:
            pytest.skip(f"an earlier step of the term failed: {term.failed}")
        try:
            func(term)
        except BaseException:
            term.failed = func.__name__
            raise
        finally:
            term.steps.append(f"{time.monotonic() - term.t0:6.1f} s  {func.__name__}")

    run.__name__, run.__qualname__, run.__doc__ = func.__name__, func.__qualname__, func.__doc__
    return run


def open_page(t, name, base=None):
    page = log_in(t.browser, base or t.base, name, t.passwords[name])
    page.on("console", lambda m: t.console.append(f"{name} {m.type}: {m.text}"))
    t.pages[name] = page
    return page


def nobody_reads_others(t, when):
    """No student reads the instructor's course, nor another student's home, nor the exchange's inbound."""
    secret_paths = [t.course / "solutions" / UNIT / f"{NB}.ipynb", t.course / "gradebook.db"]
    secret_paths.append(t.course / "nbgrader_config.py")
    for s in STUDENTS:
        for path in secret_paths:
            cannot_read(s, path, f"the instructor's course ({when})")
        for other in STUDENTS:
            if other != s:
                cannot_read(s, home(other), f"{other}'s home ({when})")
        if (t.exchange / "inbound").exists():
            cannot_read(s, t.exchange / "inbound", f"the list of submissions ({when})")
        # the same in the student's own view, where the course checkout has no solutions/ at all
        r = terminal(t.settings, s, ["cat", str(ROOT / "solutions" / UNIT / f"{NB}.ipynb")], check=False)
        assert r.returncode != 0, f"{s}'s terminal shows the checkout's solutions ({when})"


@step
def test_the_instructor_releases_a_unit_and_sees_it_in_the_formgrader(t):
    assert (t.course / "solutions" / UNIT).is_dir() and oct(t.course.stat().st_mode & 0o777) == "0o700"
    terminal(t.settings, TEACHER, nbgrader("release_assignment", UNIT, "--force"), cwd=t.course)
    assert (t.exchange / "outbound" / UNIT / f"{NB}.ipynb").is_file()
    nobody_reads_others(t, "after the release")
    teacher = open_page(t, TEACHER)
    teacher.locator(".lm-MenuBar-itemLabel", has_text=re.compile("^Nbgrader$")).wait_for(timeout=60_000)
    teacher.locator(".jp-DirListing-content").get_by_text(f"{COURSE}-course").wait_for(timeout=60_000)
    shot(teacher, "01-instructor-first-view")
    entries = nbgrader_menu(teacher)
    assert all(tool in entries for tool in INSTRUCTOR_TOOLS), f"the instructor's Nbgrader menu: {entries}"
    assert create_assignment_panels(teacher) == 1, "the instructor has no Create Assignment panel"
    frame = open_formgrader(teacher)
    frame.get_by_role("link", name=UNIT).wait_for(timeout=60_000)
    shot(teacher, "02-instructor-released-unit-01")


@step
def test_the_instructors_terminal_finds_nbgrader_and_course(t):
    output, status = browser_terminal(
        t.pages[TEACHER], TEACHER, "nbgrader --version && course --help", "03-instructor-terminal"
    )
    assert status == 0, f"the instructor's terminal: {output}"
    assert "nbgrader version 0.9" in output and "course autograde UNIT" in output, output


@step
def test_a_student_logging_in_at_127_0_0_1_lands_on_the_course(t):
    """The address JupyterHub's log prints: the login page moves to the subdomain host, where the login holds."""
    alice = open_page(t, A, base=f"http://127.0.0.1:{t.settings.port}")
    assert alice.url.startswith(t.base.replace("//hub.", f"//{A}.hub.")), alice.url
    alice.get_by_role("heading", name=re.compile(f"^{COURSE}: start here")).wait_for(timeout=60_000)
    alice.locator(".lm-MenuBar-itemLabel", has_text=re.compile("^Nbgrader$")).wait_for(timeout=60_000)
    shot(alice, "04-student-a-first-view")
    browser_files = alice.locator(".jp-DirListing-content").inner_text()
    assert "lectures" in browser_files and "README.md" in browser_files, browser_files
    lectures = sorted(p.name for p in (home(A) / "lectures").glob("*.ipynb"))
    assert lectures == sorted(p.name for p in (ROOT / "lectures").glob("*.ipynb")), lectures
    assert create_assignment_panels(alice) == 0, "a student sees nbgrader's Create Assignment panel"
    entries = nbgrader_menu(alice)
    assert "Assignment List" in entries and not set(INSTRUCTOR_TOOLS) & set(entries), f"student's menu: {entries}"


@step
def test_a_student_fetches_answers_and_validates(t):
    alice = t.pages[A]
    panel = assignments_tab(alice)
    released = panel.locator("#released_assignments_list")
    released.get_by_text(UNIT).wait_for(timeout=60_000)
    shot(alice, "05-student-a-assignments-tab")
    released.get_by_role("button", name="Fetch").click()
    panel.locator("#fetched_assignments_list").get_by_text(UNIT).wait_for(timeout=60_000)
    notebook = home(A) / COURSE / UNIT / f"{NB}.ipynb"
    assert notebook.is_file() and notebook.stat().st_uid == pwd.getpwnam(A).pw_uid
    alice.goto(f"{server_url(alice)}/lab/tree/{COURSE}/{UNIT}/{NB}.ipynb")
    wait_for_kernel(alice, timeout=LONG)
    for name in ("perceptron_predict", "perceptron_fit"):
        type_cell(alice, code_cell(alice, f"def {name}("), t.solutions[f"answer_{name}"])
    save(alice)
    validate(alice)
    shot(alice, "06-student-a-validated")
    alice.keyboard.press("Escape")


@step
def test_a_students_terminal_grades_the_fetched_exercise(t):
    """``course grade`` as the landing page says: found on PATH, the unit found without solutions/."""
    output, status = browser_terminal(
        t.pages[A], A, f"course grade {COURSE}/{UNIT}/{NB}.ipynb", "07-student-a-self-grade"
    )
    assert status == 0, output
    assert f"[{UNIT}]  5 / 5" in output and "only the visible tests run" in output, output


@step
def test_the_students_submit(t):
    alice = t.pages[A]
    panel = assignments_tab(alice)
    panel.locator("#fetched_assignments_list").get_by_role("button", name="Submit").click()
    panel.locator("#submitted_assignments_list").get_by_text(UNIT).wait_for(timeout=60_000)
    shot(alice, "08-student-a-submitted")
    # B and C work in their terminals: fetch, edit, submit
    for s in (B, C):
        env = hub_env_of(t.settings, s)
        terminal(t.settings, s, nbgrader("fetch_assignment", UNIT, "--course", COURSE), env=env)
        nb = home(s) / COURSE / UNIT / f"{NB}.ipynb"
        if s == B:  # predict right, fit wrong (never updates the weights)
            answers = {"answer_perceptron_predict": t.solutions["answer_perceptron_predict"]}
            answers["answer_perceptron_fit"] = (
                "def perceptron_fit(X, y, lr=1.0, epochs=10):\n    import numpy as np\n"
                "    return np.zeros(X.shape[1]), 0.0\n"
            )
        else:
            steal = STEAL.format(exchange=t.settings.exchange, root=ROOT)
            answers = {"answer_perceptron_predict": steal, "answer_perceptron_fit": LOOP}
        write_as(s, nb, fill(nb, answers))
        terminal(t.settings, s, nbgrader("submit", UNIT, "--course", COURSE), env=env)
    nobody_reads_others(t, "after the submissions")


@step
def test_the_instructor_collects_autogrades_and_sees_the_grades(t):
    terminal(t.settings, TEACHER, nbgrader("collect", UNIT), cwd=t.course)
    for s in STUDENTS:
        assert (t.course / "submitted" / s / UNIT / f"{NB}.ipynb").is_file()
    course_cmd = str(Path(sys.executable).parent / "course")
    r = terminal(
        t.settings, TEACHER, [course_cmd, "autograde", UNIT, "--timeout", "40", "--workers", "2"], cwd=t.course
    )
    (ARTIFACTS / "autograde.txt").write_text(r.stdout + r.stderr)
    shutil.copy(t.course / "autograde-logs" / f"{UNIT}.log", ARTIFACTS / "autograde.log")
    assert "submissions: 3" in r.stdout, r.stdout
    scores = grades(t.settings, t.course)
    why = (ARTIFACTS / "autograde.log").read_text()[-3000:]
    assert scores[A] == (5.0, 5.0) and 0 < scores[B][0] < 5 and scores[C][0] == 0, f"{scores}\n{why}"
    stolen = (t.course / "autograded" / C / UNIT / f"{NB}.ipynb").read_text()
    assert "STOLEN: 0" in stolen, "the malicious submission read files from the grader's sandbox"
    nobody_reads_others(t, "after grading")

    frame = open_formgrader(t.pages[TEACHER])
    frame.get_by_role("link", name="Manage Students").click()
    for s in STUDENTS:
        frame.get_by_role("row").filter(has_text=s).wait_for(timeout=60_000)
    rows = {s: frame.get_by_role("row").filter(has_text=s).inner_text() for s in STUDENTS}
    assert re.search(r"\b5(\.0+)?\s*/\s*5", rows[A]), rows
    assert re.search(rf"\b{scores[B][0]:g}(\.0+)?\s*/\s*5", rows[B]), rows
    assert re.search(r"\b0(\.0+)?\s*/\s*5", rows[C]), rows
    shot(t.pages[TEACHER], "09-instructor-formgrader-grades")
    terminal(t.settings, TEACHER, [course_cmd, "feedback", UNIT], cwd=t.course)
    terminal(t.settings, TEACHER, nbgrader("release_feedback", UNIT), cwd=t.course)


@step
def test_each_student_gets_their_own_feedback(t):
    alice = t.pages[A]
    panel = assignments_tab(alice)
    panel.locator("#refresh_assignments_list").click()
    panel.get_by_role("button", name="Fetch Feedback").click()
    panel.get_by_text("(view feedback)").wait_for(timeout=60_000)
    shot(alice, "10-student-a-feedback-fetched")
    for s in (B, C):
        terminal(t.settings, s, nbgrader("fetch_feedback", UNIT, "--course", COURSE), env=hub_env_of(t.settings, s))
    for s in STUDENTS:
        found = sorted((home(s) / COURSE / UNIT / "feedback").glob(f"*/{NB}.html"))
        assert len(found) == 1, f"{s}: {found}"
        text = found[0].read_text()
        assert s in text and all(o not in text for o in STUDENTS if o != s), f"{s}'s feedback names another"
        assert "### BEGIN HIDDEN TESTS" not in text
    nobody_reads_others(t, "after the feedback")
    for s in STUDENTS:  # and nobody reads another's feedback in the exchange
        cannot_read(s, t.exchange / "feedback", "the exchange's feedback folder")


@step
def test_the_view_feedback_link_opens_the_feedback_page(t):
    alice = t.pages[A]
    panel = assignments_tab(alice)
    panel.get_by_text("(view feedback)").click()
    alice.locator(".lm-TabBar-tab.lm-mod-current", has_text=f"{NB}.html").wait_for(timeout=60_000)
    page = alice.frame_locator(".jp-HTMLViewer:visible iframe")
    page.get_by_text("Score").first.wait_for(timeout=60_000)
    assert A in page.locator("body").inner_text()
    shot(alice, "11-student-a-feedback-page")


@step
def test_ctrl_c_stops_the_hub_quietly(t):
    """Ctrl-C in the terminal of ``course hub`` (SIGINT to its process group): every server stops, no error."""
    logged = t.hub.log.read_text(errors="replace")
    os.killpg(t.hub.proc.pid, signal.SIGINT)
    assert t.hub.proc.wait(timeout=90) == 0, "course hub did not exit cleanly"
    after = t.hub.log.read_text(errors="replace")[len(logged) :]
    (ARTIFACTS / "ctrl-c.log").write_text(after)
    for noise in ("Failed to stop user", "Task was destroyed", "Traceback", "Exception"):
        assert noise not in after, f"Ctrl-C printed {noise!r}:\n{after[-3000:]}"
    assert "course hub: stopped" in after, after[-3000:]
    for name in (TEACHER, *STUDENTS):  # a server's terminals and kernels end a moment after it: wait a little
        uid, deadline = pwd.getpwnam(name).pw_uid, time.monotonic() + 30
        while _pids_of(uid) and time.monotonic() < deadline:
            time.sleep(0.5)
        left = [_cmdline(pid) for pid in _pids_of(uid)]
        assert not left, f"{name}'s processes still run 30 s after the hub stopped: {left}"
