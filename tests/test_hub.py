"""A term of the course on a real JupyterHub, end to end, in a real browser (``course hub``).

The test starts ``course hub`` (JupyterHub with configurable-http-proxy, PAM logins, each
server run as its user) on 127.0.0.1, with four real local accounts that it creates and removes:
an instructor and three students. Headless Chromium (Playwright, as in tests/test_browser.py)
drives what people do in the browser; a student's or the instructor's terminal is a process of
that account in the same view as its server (``course.hub.as_user``). Screenshots of every step
land in test-artifacts/hub/.

1. the instructor releases unit 01 (``nbgrader release_assignment``) and sees it in the
   formgrader, in JupyterLab's formgrader panel (an iframe: not blank, nbgrader #1870);
2. student A logs in, fetches it in the Assignments tab, answers, validates and submits;
   student B submits a partly wrong notebook, student C a malicious one (it reads other
   accounts' files and loops forever), both from their terminals (``nbgrader submit``);
3. the instructor collects (``nbgrader collect``), autogrades (``course autograde``, which grades
   ``submitted/<student>/<unit>/`` in its sandbox), sees the three grades in the formgrader,
   writes feedback (``course feedback``) and releases it (``nbgrader release_feedback``);
4. each student fetches their feedback and finds only their own;
5. at every step no student can read another's work or the instructor's course (solutions,
   submissions, gradebook): ``runuser -u STUDENT -- cat ...`` fails, and so does the same
   command in the student's own view (where the course checkout's solutions/ does not exist).

Needs root (it creates accounts), configurable-http-proxy (``npm install -g
configurable-http-proxy``; .ci/run installs it), JupyterHub (``pip install -e .``) and Chromium;
without one of them it SKIPS and says which.
"""

import functools
import json
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

import pytest
from servers import wait_for_http

from course import hub as course_hub
from course.lab import free_port

from conftest import ROOT
from test_browser import (
    chromium_or_skip,
    code_cell,
    launch,
    menu,
    save,
    solved_answer_cells,
    type_cell,
    validate,
    wait_for_kernel,
)
from test_browser import shot as browser_shot

ARTIFACTS = ROOT / "test-artifacts" / "hub"
UNIT, NB = "01_perceptron", "perceptron"
COURSE = "rnn"
MARK = "course hub test account"  # GECOS of the accounts this test makes (and may remove)
TEACHER = "crshub-teacher"
A, B, C = "crshub-a", "crshub-b", "crshub-c"
STUDENTS = (A, B, C)
LONG = 180_000  # ms: JupyterLab starting, a kernel running the checks, on 2 shared cores


def _skip_unless_ready():
    if os.geteuid() != 0:
        pytest.skip("needs root: it creates local accounts (useradd) and runs a hub that starts servers as them")
    for tool in ("useradd", "userdel", "chpasswd", "runuser"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} not found (Debian: passwd and util-linux)")
    if shutil.which("configurable-http-proxy") is None:
        pytest.skip("configurable-http-proxy not found: npm install -g configurable-http-proxy (.ci/run does)")
    pytest.importorskip("jupyterhub", reason="JupyterHub is not installed: pip install -e .")
    chromium_or_skip()


def _pids_of(uid):
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.stat(f"/proc/{entry}").st_uid == uid:
                    pids.append(int(entry))
            except OSError:
                pass
    return pids


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


@pytest.fixture(scope="module")
def hub(accounts):
    """``course hub`` on free loopback ports; yields (settings, base URL). Stopped, its folder removed, at the end."""
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
    log_path = top / "hub.log"
    log = open(log_path, "w")
    cmd = [str(Path(sys.executable).parent / "course"), "hub", "--instructor", TEACHER, "--student", ",".join(STUDENTS)]
    cmd += ["--course-id", COURSE, "--port", str(port), "--hub-port", str(settings.hub_port)]
    cmd += [
        "--proxy-api-port",
        str(settings.proxy_api_port),
        "--state",
        settings.state,
        "--exchange",
        settings.exchange,
    ]
    cmd += ["--course", str(ROOT)]
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for_http(f"http://127.0.0.1:{port}/hub/api/", proc, log_path, timeout=120, what="course hub")
        yield settings, settings.subdomain_host
    finally:
        proc.terminate()  # `course hub` has the hub stop every server, then the proxy, and returns
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            pass
        try:  # whatever of its process group is left (the hub, the proxy)
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()
        log.close()
        shutil.copy(log_path, ARTIFACTS / "hub.log")
        shutil.rmtree(top, ignore_errors=True)


# ------------------------------------------------------------------ the configuration (no root needed)
def test_settings_reach_the_hub_config_through_the_environment():
    s = course_hub.HubSettings(
        instructors=["t"], students=["a", "b"], port=9000, subdomain_host="http://h.localhost:9000"
    )
    assert course_hub.HubSettings.from_env(s.env()) == s


def test_the_hub_config_names_nbgraders_groups_and_frames_only_with_subdomains(monkeypatch):
    pytest.importorskip("jupyterhub", reason="JupyterHub is not installed: pip install -e .")
    from traitlets.config.loader import PyFileConfigLoader

    def load(**extra):
        for k, v in (
            course_hub.HubSettings(instructors=["t"], students=["a", "b"], course_id="c1", **extra).env().items()
        ):
            monkeypatch.setenv(k, v)
        return PyFileConfigLoader("jupyterhub_config.py", path=str(course_hub.DEPLOY)).load_config()

    c = load(subdomain_host="http://hub.localhost:8000")
    assert c.JupyterHub.load_groups == {"formgrade-c1": {"users": ["t"]}, "nbgrader-c1": {"users": ["a", "b"]}}
    assert c.JupyterHub.subdomain_host == "http://hub.localhost:8000"
    assert c.Spawner.environment["COURSE_HUB_FRAME_SELF"] == "1"
    assert "read:users:groups!user" in c.Spawner.server_token_scopes  # JupyterHubAuthPlugin reads its groups
    c = load()
    assert "subdomain_host" not in c.JupyterHub and c.Spawner.environment["COURSE_HUB_FRAME_SELF"] == ""


def test_a_server_never_sees_the_checkouts_solutions():
    covers = dict(course_hub.user_view(package_root=ROOT))
    checkout = os.path.realpath(ROOT)
    assert checkout in covers  # an editable checkout with solutions/ is covered ...
    kept = covers[checkout]
    assert os.path.realpath(ROOT / "course") in kept  # ... but for the package
    assert not any(Path(k).name in course_hub.PRIVATE for k in kept)


def test_a_private_view_shows_only_what_it_keeps():
    """A checkout under a folder others cannot enter: only its package appears, read-only, to another account."""
    if os.geteuid() != 0:
        pytest.skip("needs root: a view is entered as root before the account's uid is taken")
    top = Path(tempfile.mkdtemp(prefix="course-hub-view-"))
    try:
        os.chmod(top, 0o755)
        repo = top / "private" / "repo"
        for rel in ("solutions/01_x/x.ipynb", "course/__init__.py", "gradebook.db"):
            (repo / rel).parent.mkdir(parents=True, exist_ok=True)
            (repo / rel).write_text("secret" if "course" not in rel else "")
        os.chmod(top / "private", 0o700)
        covers = course_hub.user_view(package_root=repo)
        script = f"ls -A {repo}; cat {repo}/solutions/01_x/x.ipynb; touch {repo}/course/new"
        r = subprocess.run(
            ["sh", "-c", script],
            preexec_fn=course_hub.as_user("nobody", covers, cwd="/"),
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert r.stdout.split() == ["course"], r.stdout  # no solutions/, no gradebook
        assert "No such file" in r.stderr and "Read-only file system" in r.stderr, r.stderr
    finally:
        shutil.rmtree(top)


def test_the_frame_policy_is_self_only_where_users_have_subdomains(monkeypatch):
    from traitlets.config.loader import PyFileConfigLoader

    def load(frame_self):
        monkeypatch.setenv("COURSE_HUB_FRAME_SELF", frame_self)
        return PyFileConfigLoader("jupyter_server_config.py", path=str(course_hub.USER_CONFIG)).load_config()

    headers = load("1").ServerApp.tornado_settings["headers"]
    assert headers["Content-Security-Policy"] == "frame-ancestors 'self'"
    assert "tornado_settings" not in load("").ServerApp  # JupyterHub's frame-ancestors 'none' stays


# ------------------------------------------------------------------ people and their terminals
VIEW = None


def terminal(settings, name, cmd, cwd=None, env=None, check=True, timeout=300):
    """``cmd`` run as account ``name`` in the view its server has (its terminal in JupyterLab)."""
    global VIEW
    VIEW = course_hub.user_view() if VIEW is None else VIEW
    r = subprocess.run(
        cmd,
        preexec_fn=course_hub.as_user(name, VIEW, cwd=cwd),
        env=course_hub.user_env(name, settings, env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and r.returncode != 0:
        pytest.fail(
            f"{' '.join(map(str, cmd))} as {name} failed ({r.returncode}):\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
        )
    return r


def hub_token(settings, name):
    """An API token of ``name`` (what JupyterHub gives the terminal of their server): ``jupyterhub token``."""
    r = subprocess.run(
        [sys.executable, "-m", "jupyterhub", "token", "-f", str(course_hub.DEPLOY / "jupyterhub_config.py"), name],
        cwd=settings.state,
        env=course_hub.hub_env(settings),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    return r.stdout.strip().splitlines()[-1]


_TOKENS = {}


def hub_env_of(settings, name):
    if name not in _TOKENS:
        _TOKENS[name] = hub_token(settings, name)
    return {
        "JUPYTERHUB_USER": name,
        "JUPYTERHUB_API_TOKEN": _TOKENS[name],
        "JUPYTERHUB_API_URL": f"http://127.0.0.1:{settings.hub_port}/hub/api",
    }


def nbgrader(*args):
    return [str(Path(sys.executable).parent / "nbgrader"), *args]


def cannot_read(name, path, what):
    """``runuser -u NAME -- cat PATH`` (or ``ls`` for a folder) fails: the account cannot read ``path``."""
    tool = "ls" if Path(path).is_dir() else "cat"
    r = subprocess.run(["runuser", "-u", name, "--", tool, str(path)], capture_output=True, text=True, timeout=30)
    assert r.returncode != 0, f"{name} could read {what}: {path}\n{r.stdout[:300]}"
    return r.stderr.strip()


shot = functools.partial(browser_shot, folder=ARTIFACTS)


def log_in(browser, base, name, password):
    """A browser context of ``name``, logged in, with their JupyterLab open; returns its page."""
    page = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
    page.goto(f"{base}/hub/login")
    page.fill("#username_input", name)
    page.fill("#password_input", password)
    page.click("#login_submit")
    page.wait_for_url(re.compile(r"/user/[^/]+/lab"), timeout=LONG)
    page.locator(".jp-LabShell").wait_for(timeout=LONG)
    return page


def server_url(page):
    return page.url.split("/lab")[0]


def assignments_tab(page):
    menu(page, "Nbgrader", "Assignment List")
    panel = page.locator("#assignments")
    panel.wait_for(timeout=60_000)
    return panel


# ------------------------------------------------------------------ the notebooks students hand in
def fill(nb_path, answers):
    """The fetched notebook with its answer cells replaced (``answers``: grade_id -> source)."""
    nb = json.loads(Path(nb_path).read_text(encoding="utf-8"))
    for cell in nb["cells"]:
        gid = cell["metadata"].get("nbgrader", {}).get("grade_id")
        if gid in answers:
            cell["source"] = answers[gid]
    return json.dumps(nb)


STEAL = """import glob
STOLEN = []
for pattern in ["/home/*/*-course/solutions/*/*.ipynb", "/home/*/*-course/gradebook.db",
                "/home/*/*-course/submitted/*/*/*.ipynb", "/home/*/rnn/*/*.ipynb",
                "{exchange}/rnn/inbound/*", "{root}/solutions/*/*.ipynb"]:
    for path in glob.glob(pattern):
        try:
            STOLEN.append(open(path, "rb").read(100))
        except OSError:
            pass
print("STOLEN:", len(STOLEN))


def perceptron_predict(X, w, b):
    return X[:, 0] * 0
"""
LOOP = """def perceptron_fit(X, y, lr=1.0, epochs=10):
    while True:
        pass
"""


def write_as(name, path, text):
    Path(path).write_text(text, encoding="utf-8")
    pw = pwd.getpwnam(name)
    os.chown(path, pw.pw_uid, pw.pw_gid)


# ------------------------------------------------------------------ the term
@pytest.mark.slow
def test_a_term_on_jupyterhub(hub, accounts):
    settings, base = hub
    t0 = time.monotonic()
    steps = []

    def step(name):
        steps.append(f"{time.monotonic() - t0:6.1f} s  {name}")

    pw = chromium_or_skip()
    course = course_hub.course_dir(TEACHER, COURSE)
    solutions = solved_answer_cells(ROOT / "solutions" / UNIT / f"{NB}.ipynb")
    exchange = Path(settings.exchange) / COURSE
    secret_paths = [course / "solutions" / UNIT / f"{NB}.ipynb", course / "gradebook.db", course / "nbgrader_config.py"]

    def nobody_reads_others(step):
        """No student reads the instructor's course, nor another student's home, nor the exchange's inbound."""
        for s in STUDENTS:
            for path in secret_paths:
                cannot_read(s, path, f"the instructor's course ({step})")
            for other in STUDENTS:
                if other != s:
                    cannot_read(s, pwd.getpwnam(other).pw_dir, f"{other}'s home ({step})")
            if (exchange / "inbound").exists():
                cannot_read(s, exchange / "inbound", f"the list of submissions ({step})")
            # the same in the student's own view, where the course checkout has no solutions/ at all
            r = terminal(settings, s, ["cat", str(ROOT / "solutions" / UNIT / f"{NB}.ipynb")], check=False)
            assert r.returncode != 0, f"{s}'s terminal shows the checkout's solutions ({step})"

    # 1. The instructor releases unit 01 from the course directory in their home.
    assert (course / "solutions" / UNIT).is_dir() and oct(course.stat().st_mode & 0o777) == "0o700"
    terminal(settings, TEACHER, nbgrader("release_assignment", UNIT, "--force"), cwd=course)
    assert (exchange / "outbound" / UNIT / f"{NB}.ipynb").is_file()
    nobody_reads_others("after the release")
    step("released")

    console = []
    with pw.sync_playwright() as p:
        browser = launch(p)
        try:
            teacher = log_in(browser, base, TEACHER, accounts[TEACHER])
            teacher.on("console", lambda m: console.append(f"{TEACHER} {m.type}: {m.text}"))
            frame = open_formgrader(teacher)
            frame.get_by_role("link", name=UNIT).wait_for(timeout=60_000)
            shot(teacher, "01-instructor-released-unit-01")
            step("instructor's formgrader")

            # 2. Student A: log in, fetch in the Assignments tab, answer, validate, submit.
            alice = log_in(browser, base, A, accounts[A])
            alice.on("console", lambda m: console.append(f"{A} {m.type}: {m.text}"))
            shot(alice, "02-student-a-logged-in")
            step("A logged in")
            panel = assignments_tab(alice)
            released = panel.locator("#released_assignments_list")
            released.get_by_text(UNIT).wait_for(timeout=60_000)
            shot(alice, "03-student-a-assignments-tab")
            released.get_by_role("button", name="Fetch").click()
            fetched = panel.locator("#fetched_assignments_list")
            fetched.get_by_text(UNIT).wait_for(timeout=60_000)
            notebook = Path(pwd.getpwnam(A).pw_dir) / COURSE / UNIT / f"{NB}.ipynb"
            assert notebook.is_file() and notebook.stat().st_uid == pwd.getpwnam(A).pw_uid
            shot(alice, "04-student-a-fetched")
            step("A fetched")
            alice.goto(f"{server_url(alice)}/lab/tree/{COURSE}/{UNIT}/{NB}.ipynb")
            wait_for_kernel(alice, timeout=LONG)
            for name in ("perceptron_predict", "perceptron_fit"):
                type_cell(alice, code_cell(alice, f"def {name}("), solutions[f"answer_{name}"])
            save(alice)
            validate(alice)
            shot(alice, "05-student-a-validated")
            step("A validated")
            alice.keyboard.press("Escape")
            panel = assignments_tab(alice)
            panel.locator("#fetched_assignments_list").get_by_role("button", name="Submit").click()
            panel.locator("#submitted_assignments_list").get_by_text(UNIT).wait_for(timeout=60_000)
            shot(alice, "06-student-a-submitted")
            step("A submitted")

            # Students B and C work in their terminals: fetch, edit, submit.
            for s in (B, C):
                env = hub_env_of(settings, s)
                terminal(settings, s, nbgrader("fetch_assignment", UNIT, "--course", COURSE), env=env)
                nb = Path(pwd.getpwnam(s).pw_dir) / COURSE / UNIT / f"{NB}.ipynb"
                if s == B:  # predict right, fit wrong (never updates the weights)
                    answers = {"answer_perceptron_predict": solutions["answer_perceptron_predict"]}
                    answers["answer_perceptron_fit"] = (
                        "def perceptron_fit(X, y, lr=1.0, epochs=10):\n"
                        "    import numpy as np\n"
                        "    return np.zeros(X.shape[1]), 0.0\n"
                    )
                else:
                    answers = {
                        "answer_perceptron_predict": STEAL.format(exchange=settings.exchange, root=ROOT),
                        "answer_perceptron_fit": LOOP,
                    }
                step(f"{s} fetched")
                write_as(s, nb, fill(nb, answers))
                terminal(settings, s, nbgrader("submit", UNIT, "--course", COURSE), env=env)
            nobody_reads_others("after the submissions")
            step("B and C submitted")

            # 3. The instructor collects, autogrades through the course's sandbox, sees the grades.
            terminal(settings, TEACHER, nbgrader("collect", UNIT), cwd=course)
            step("collected")
            for s in STUDENTS:
                assert (course / "submitted" / s / UNIT / f"{NB}.ipynb").is_file()
            r = terminal(
                settings,
                TEACHER,
                [str(Path(sys.executable).parent / "course"), "autograde", UNIT, "--timeout", "40", "--workers", "2"],
                cwd=course,
            )
            (ARTIFACTS / "autograde.txt").write_text(r.stdout + r.stderr)
            shutil.copy(course / "autograde-logs" / f"{UNIT}.log", ARTIFACTS / "autograde.log")
            step("autograded")
            assert "submissions: 3" in r.stdout, r.stdout
            scores = grades(settings, course)
            why = (ARTIFACTS / "autograde.log").read_text()[-3000:]
            assert scores[A] == (5.0, 5.0) and 0 < scores[B][0] < 5 and scores[C][0] == 0, f"{scores}\n{why}"
            stolen = (course / "autograded" / C / UNIT / f"{NB}.ipynb").read_text()
            assert "STOLEN: 0" in stolen, "the malicious submission read files from the grader's sandbox"
            nobody_reads_others("after grading")

            frame = open_formgrader(teacher)
            frame.get_by_role("link", name="Manage Students").click()
            for s in STUDENTS:
                frame.get_by_role("row").filter(has_text=s).wait_for(timeout=60_000)
            rows = {s: frame.get_by_role("row").filter(has_text=s).inner_text() for s in STUDENTS}
            assert re.search(r"\b5(\.0+)?\s*/\s*5", rows[A]), rows
            assert re.search(rf"\b{scores[B][0]:g}(\.0+)?\s*/\s*5", rows[B]), rows
            assert re.search(r"\b0(\.0+)?\s*/\s*5", rows[C]), rows
            shot(teacher, "07-instructor-formgrader-grades")
            step("grades in the formgrader")

            terminal(settings, TEACHER, [str(Path(sys.executable).parent / "course"), "feedback", UNIT], cwd=course)
            terminal(settings, TEACHER, nbgrader("release_feedback", UNIT), cwd=course)
            step("feedback released")

            # 4. Each student fetches their feedback and finds their own only.
            panel = assignments_tab(alice)
            panel.locator("#refresh_assignments_list").click()
            panel.get_by_role("button", name="Fetch Feedback").click()
            panel.get_by_text("(view feedback)").wait_for(timeout=60_000)
            shot(alice, "08-student-a-feedback-fetched")
            pages = {}
            for s in (B, C):
                terminal(settings, s, nbgrader("fetch_feedback", UNIT, "--course", COURSE), env=hub_env_of(settings, s))
            for s in STUDENTS:
                found = sorted((Path(pwd.getpwnam(s).pw_dir) / COURSE / UNIT / "feedback").glob(f"*/{NB}.html"))
                assert len(found) == 1, f"{s}: {found}"
                pages[s] = found[0]
                text = found[0].read_text()
                assert s in text and all(o not in text for o in STUDENTS if o != s), f"{s}'s feedback names another"
                assert "### BEGIN HIDDEN TESTS" not in text
            rel = pages[A].relative_to(pwd.getpwnam(A).pw_dir)
            alice.goto(f"{server_url(alice)}/files/{rel}")
            alice.get_by_text("Score").first.wait_for(timeout=30_000)
            assert A in alice.inner_text("body")
            shot(alice, "09-student-a-feedback")
            step("A's feedback")
            nobody_reads_others("after the feedback")
            for s in STUDENTS:  # and nobody reads another's feedback in the exchange
                cannot_read(s, exchange / "feedback", "the exchange's feedback folder")
        except BaseException:  # pytest.fail too: leave the screenshots and the files for the report
            for i, pg in enumerate(pg for ctx in browser.contexts for pg in ctx.pages):
                shot(pg, f"99-failure-{i}")
            listing = subprocess.run(
                [
                    "find",
                    str(course),
                    str(settings.exchange),
                    "-path",
                    "*/.git",
                    "-prune",
                    "-o",
                    "(",
                    "-path",
                    "*/submitted/*",
                    "-o",
                    "-path",
                    "*/autograded/*",
                    "-o",
                    "-path",
                    "*/feedback/*",
                    "-o",
                    "-path",
                    "*/exchange/*",
                    ")",
                    "-ls",
                ],
                capture_output=True,
                text=True,
            )
            (ARTIFACTS / "99-failure-files.txt").write_text(listing.stdout)
            raise
        finally:
            (ARTIFACTS / "console.log").write_text("\n".join(console) + "\n")
            browser.close()
            step("end")
            (ARTIFACTS / "timing.txt").write_text("\n".join(steps) + "\n")


def open_formgrader(page):
    """Nbgrader > Formgrader in the instructor's JupyterLab; the frame it shows (must not be blank)."""
    menu(page, "Nbgrader", "Formgrader")
    iframe = page.locator(".lm-DockPanel iframe").last
    iframe.wait_for(timeout=60_000)
    frame = page.frame_locator(".lm-DockPanel iframe >> nth=-1")
    frame.get_by_text("Manage Assignments").first.wait_for(timeout=60_000)  # blank under frame-ancestors 'none'
    return frame


def grades(settings, course):
    """student -> (score, max) of unit 01, read from the instructor's gradebook (as the instructor)."""
    script = (
        "import json; from course.instructor import grades; "
        f"print(json.dumps({{r['student']: [r['total'], r['max_score']] for r in grades(units=[{UNIT!r}])}}))"
    )
    r = terminal(settings, TEACHER, [sys.executable, "-c", script], cwd=course)
    return {k: tuple(v) for k, v in json.loads(r.stdout.strip().splitlines()[-1]).items()}
