"""First contact with `course lab` (issue 14, item 6): the printed URL opens lecture 1, and no news pop-up.

JupyterLab shows "Would you like to get notified about official Jupyter news?" whenever the
``fetchNews`` setting of ``@jupyterlab/apputils-extension:notification`` is "none" (its default) and
the announcements plugin ``@jupyterlab/apputils-extension:announcements`` is loaded
(https://jupyterlab.readthedocs.io/en/stable/user/announcements.html: "It can be disabled as any
plugin"). The lab of the course disables that plugin and the news feed; the test reads it from
the page the printed URL serves (JupyterLab's page config: ``treePath``, ``disabledExtensions``,
``news``), with a fresh user's settings.
"""

import json
import os
import re
import shutil
import signal
import subprocess
import time
import urllib.request

import pytest

from course.lab import ANNOUNCEMENTS_PLUGIN, QUIET_OPTIONS, free_port, lab_command, lab_url, write_course_config

from conftest import ROOT, bin_path

UNIT = "01_perceptron"
LECTURE = f"lectures/{UNIT}.ipynb"
ARTIFACTS = ROOT / "test-artifacts" / "lab"


def test_the_lab_command_opens_the_notebook_it_is_given_and_asks_for_no_news():
    cmd = lab_command("/course", port=9999, open_browser=False, notebook=LECTURE)
    assert f"--LabApp.default_url=/lab/tree/{LECTURE}" in cmd  # where Jupyter's own printed URLs lead
    assert set(QUIET_OPTIONS) <= set(cmd)
    assert "--LabApp.news_url=None" in cmd


@pytest.mark.parametrize(
    "ip, url",
    [
        ("127.0.0.1", f"http://127.0.0.1:8888/lab/tree/{LECTURE}?token=abc"),
        ("0.0.0.0", f"http://127.0.0.1:8888/lab/tree/{LECTURE}?token=abc"),
        ("::1", f"http://[::1]:8888/lab/tree/{LECTURE}?token=abc"),
    ],
)
def test_lab_url_opens_the_lecture_with_its_token(ip, url):
    assert lab_url(ip, 8888, LECTURE, "abc") == url


def test_the_course_config_disables_the_announcements_plugin(tmp_path):
    page_config = json.loads((write_course_config(tmp_path) / "labconfig" / "page_config.json").read_text())
    assert page_config == {"disabledExtensions": {ANNOUNCEMENTS_PLUGIN: True}}


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """`course lab --no-browser` on a copy of unit 1, as a fresh user; yields (printed URL, output)."""
    tmp = tmp_path_factory.mktemp("lab")
    root = tmp / "course"
    (root / "lectures").mkdir(parents=True)
    shutil.copy(ROOT / "nbgrader_config.py", root)
    shutil.copy(ROOT / LECTURE, root / "lectures")
    shutil.copytree(ROOT / "solutions" / UNIT, root / "solutions" / UNIT)
    state = tmp / "state"
    env = dict(
        os.environ,
        COURSE_ROOT=str(root),
        JUPYTERLAB_SETTINGS_DIR=str(state / "settings"),  # no settings of the person running the tests
        JUPYTERLAB_WORKSPACES_DIR=str(state / "workspaces"),
        JUPYTER_RUNTIME_DIR=str(state / "runtime"),
    )
    env.pop("JUPYTER_TOKEN", None)
    log = tmp / "lab.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [bin_path("course"), "lab", "--no-browser", "--port", str(free_port())],
            cwd=root,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 90
        while True:
            m = re.search(r"course lab: open (\S+)", log.read_text())
            if m:
                try:
                    with urllib.request.urlopen(m.group(1), timeout=5) as r:
                        yield m.group(1), r.read().decode()
                        break
                except OSError:
                    pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail("course lab did not start:\n" + log.read_text()[-3000:])
            time.sleep(0.5)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # `course lab` and its server: a session of our own
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _page_config(page):
    m = re.search(r'<script id="jupyter-config-data" type="application/json">(.*?)</script>', page, re.S)
    assert m, "no JupyterLab page config in the page"
    return json.loads(m.group(1))


@pytest.mark.slow
def test_the_printed_url_opens_lecture_1_with_a_token(lab):
    url, page = lab
    assert re.fullmatch(rf"http://127\.0\.0\.1:\d+/lab/tree/{LECTURE}\?token=[0-9a-f]{{48}}", url)
    assert _page_config(page)["treePath"] == LECTURE


@pytest.mark.slow
def test_the_lab_does_not_ask_about_jupyter_news(lab):
    config = _page_config(lab[1])
    assert ANNOUNCEMENTS_PLUGIN in config["disabledExtensions"]
    assert config["news"] == {"disabled": True}


@pytest.mark.slow
def test_the_token_is_not_on_the_command_line(lab):
    url, _ = lab
    token = url.split("token=")[1]
    assert not any(token.encode() in argv for argv in _command_lines())


def _command_lines():
    """The command line of every process this user can see."""
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                yield f.read()
        except OSError:  # gone, or not ours to read
            pass


@pytest.mark.slow
def test_in_a_browser_the_url_shows_lecture_1_and_no_news_question(lab):
    """Headless Chromium (as tests/test_browser.py): the lecture opens, and no news question appears."""
    from test_browser import chromium_or_skip, launch

    pw = chromium_or_skip()
    url, _ = lab
    with pw.sync_playwright() as p:
        browser = launch(p)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(url)
            page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook").wait_for(timeout=90_000)
            tab = page.locator(".lm-DockPanel .lm-TabBar-tab.lm-mod-current .lm-TabBar-tabLabel")
            assert tab.inner_text() == f"{UNIT}.ipynb"
            page.wait_for_timeout(5000)  # the question would come once the app is restored
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "first-contact.png"))
            assert page.get_by_text("official Jupyter news").count() == 0
        finally:
            browser.close()
