"""People on the hub, as tests/system/test_hub.py's term sees them: their terminals (a process of the account
in its server's view, or typed into JupyterLab's terminal), their pages, the notebooks students hand in."""

import functools
import json
import os
import pwd
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from course.programs import hub as course_hub

from browser import menu
from browser import shot as browser_shot
from helpers import ROOT

ARTIFACTS = ROOT / "test-artifacts" / "hub"
UNIT, NB = "01_perceptron", "perceptron"
COURSE = "rnn"
MARK = "course hub test account"  # GECOS of the accounts this test makes (and may remove)
TEACHER = "h5-teacher"
A, B, C = "h5-a", "h5-b", "h5-c"
STUDENTS = (A, B, C)
LONG = 180_000  # ms: JupyterLab starting, a kernel running the checks, on 2 shared cores

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
    """A browser context of ``name``, logged in at ``base``/hub/login, with their JupyterLab open; returns its page."""
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


def home(name):
    return Path(pwd.getpwnam(name).pw_dir)


def nbgrader_menu(page):
    """The entries of JupyterLab's Nbgrader menu (the menu is closed again)."""
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile("^Nbgrader$")).click()
    entries = page.locator(".lm-Menu .lm-Menu-itemLabel")
    entries.first.wait_for(timeout=30_000)
    labels = [t.strip() for t in entries.all_inner_texts() if t.strip()]
    page.keyboard.press("Escape")
    return labels


def create_assignment_panels(page):
    """How many "Create Assignment" panels (nbgrader's instructor sidebar) JupyterLab shows."""
    return page.get_by_title("Nbgrader Create Assignment").count()


def browser_terminal(page, name, command, label, timeout=LONG):
    """Open a terminal in ``name``'s JupyterLab (File > New > Terminal) and type ``command`` into it;
    returns (its output, its exit status). The output is also written to a file in the account's home
    (read here as root: xterm draws on a canvas); a screenshot ``label`` shows the terminal."""
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile("^File$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile("^New$")).hover()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile("^Terminal$")).click()
    xterm = page.locator(".jp-Terminal:visible .xterm")
    xterm.wait_for(timeout=60_000)
    xterm.click()
    out = home(name) / f".{label}.txt"
    out.unlink(missing_ok=True)
    page.keyboard.type(f'( {command} ) 2>&1 | tee ~/{out.name}; echo "exit=${{PIPESTATUS[0]}}" >> ~/{out.name}\n')
    deadline = time.monotonic() + timeout / 1000
    while not (out.exists() and "exit=" in out.read_text(errors="replace")):
        if time.monotonic() > deadline:
            shot(page, label)
            pytest.fail(f"{command!r} in {name}'s terminal did not finish in {timeout / 1000:g} s")
        time.sleep(1)
    page.wait_for_timeout(500)  # the terminal has drawn the last lines
    shot(page, label)
    text = out.read_text(errors="replace")
    output, _, status = text.rpartition("exit=")
    return output, int(status.strip())


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
