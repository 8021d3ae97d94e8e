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

import pytest
from servers import course_lab, wait_for_http

from course.lab import ANNOUNCEMENTS_PLUGIN, QUIET_OPTIONS, free_port, lab_command, lab_url, write_course_config

from conftest import ROOT
from test_browser import chromium_or_skip, copy_unit, launch, shot

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
    root = copy_unit(tmp / "course", folders=("solutions",))
    log = tmp / "lab.log"

    def printed_url():
        m = re.search(r"course lab: open (\S+)", log.read_text())
        return m and m.group(1)

    with course_lab(root, tmp / "state", log, "--port", str(free_port())) as proc:
        page = wait_for_http(printed_url, proc, log, timeout=90, what="course lab")
        yield printed_url(), page


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
            shot(page, "first-contact", folder=ARTIFACTS)
            assert page.get_by_text("official Jupyter news").count() == 0
        finally:
            browser.close()
