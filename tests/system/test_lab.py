"""First contact with `course lab` (issue 14, item 6; issue 20, item 2): the URL printed last opens the
student's copy of lecture 1 (my-work/, gitignored, never overwritten), which opens unmodified, and
no news pop-up.

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
import subprocess
import time

import pytest
from servers import course_lab, wait_for_http

from course.instructor.notebook_format import local_language_info
from course.programs.lab import (
    ANNOUNCEMENTS_PLUGIN,
    LOG_OPTIONS,
    QUIET_OPTIONS,
    WORK_DIR,
    first_notebook,
    free_port,
    lab_command,
    lab_url,
    personal_copies,
    write_course_config,
)

from browser import chromium_or_skip, copy_unit, launch, shot
from helpers import ROOT

UNIT = "01_perceptron"
LECTURE = f"lectures/{UNIT}.ipynb"
EXERCISE = f"exercises/{UNIT}/perceptron.ipynb"
ARTIFACTS = ROOT / "test-artifacts" / "lab"


def test_the_lab_command_opens_the_notebook_it_is_given_and_asks_for_no_news():
    cmd = lab_command("/course", port=9999, open_browser=False, notebook=LECTURE)
    assert f"--LabApp.default_url=/lab/tree/{LECTURE}" in cmd  # where Jupyter's own printed URLs lead
    assert set(QUIET_OPTIONS) <= set(cmd)
    assert "--LabApp.news_url=None" in cmd


def test_the_lab_command_keeps_jupyters_start_up_log_to_warnings():
    cmd = lab_command("/course", port=9999, open_browser=False, notebook=LECTURE)
    assert set(LOG_OPTIONS) <= set(cmd)
    assert "--ServerApp.log_level=WARN" in LOG_OPTIONS


@pytest.fixture
def course_copy(tmp_path):
    return copy_unit(tmp_path / "course")


def test_the_student_gets_a_copy_of_each_lecture_and_exercise_in_my_work(course_copy):
    written, _ = personal_copies(course_copy)
    assert sorted(p.relative_to(course_copy).as_posix() for p in written) == [
        f"{WORK_DIR}/{EXERCISE}",
        f"{WORK_DIR}/{LECTURE}",
    ]
    copy = json.loads((course_copy / WORK_DIR / EXERCISE).read_text())
    release = json.loads((course_copy / EXERCISE).read_text())
    assert [c["source"] for c in copy["cells"]] == [c["source"] for c in release["cells"]]
    assert copy["metadata"]["language_info"] == local_language_info(), "the copy must name this kernel's language"


def _new_release(course_copy):
    """The course's exercise changes (say, a reworded question), as after a git pull."""
    release = json.loads((course_copy / EXERCISE).read_text())
    release["cells"][0]["source"] = "# Exercise 1, reworded\n"
    (course_copy / EXERCISE).write_text(json.dumps(release))


def test_a_students_changed_copy_is_never_overwritten_and_is_named(course_copy):
    personal_copies(course_copy)
    answer = course_copy / WORK_DIR / EXERCISE
    answer.write_text("my answers")
    _new_release(course_copy)
    assert personal_copies(course_copy) == ([], [answer])
    assert answer.read_text() == "my answers"


def test_a_deleted_copy_is_made_again(course_copy):
    personal_copies(course_copy)
    (course_copy / WORK_DIR / LECTURE).unlink()
    assert personal_copies(course_copy) == ([course_copy / WORK_DIR / LECTURE], [])


def test_an_untouched_copy_follows_the_courses_new_version(course_copy):
    personal_copies(course_copy)
    _new_release(course_copy)
    assert personal_copies(course_copy) == ([course_copy / WORK_DIR / EXERCISE], [])
    assert "reworded" in (course_copy / WORK_DIR / EXERCISE).read_text()
    assert personal_copies(course_copy) == ([], []), "nothing to do once up to date"


def test_the_lab_opens_the_students_copy_of_lecture_1(course_copy):
    assert first_notebook(course_copy).as_posix() == LECTURE  # no copy yet
    personal_copies(course_copy)
    assert first_notebook(course_copy).as_posix() == f"{WORK_DIR}/{LECTURE}"


def test_git_ignores_the_students_work():
    message = f"add /{WORK_DIR}/ to .gitignore: git pull would conflict with a student's answers"
    if not (ROOT / ".git").exists():  # a copy without git (a tarball): the rule itself must be there
        assert f"/{WORK_DIR}/" in (ROOT / ".gitignore").read_text().split(), message
        return
    r = subprocess.run(["git", "check-ignore", "-q", f"{WORK_DIR}/{EXERCISE}"], cwd=ROOT)
    assert r.returncode == 0, message


def test_the_readme_tells_students_where_their_work_is():
    readme = (ROOT / "README.md").read_text()
    student = readme[readme.index("## How a student works") :].split("\n## ")[0]
    assert f"{WORK_DIR}/" in student and "git pull" in student


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
    """`course lab --no-browser` on a copy of unit 1, as a fresh user; yields (printed URL, page, its output)."""
    tmp = tmp_path_factory.mktemp("lab")
    root = copy_unit(tmp / "course")
    log = tmp / "lab.log"

    def printed_url():
        m = re.search(r"course lab: open (\S+)", log.read_text())
        return m and m.group(1)

    with course_lab(root, tmp / "state", log, "--port", str(free_port())) as proc:
        page = wait_for_http(printed_url, proc, log, timeout=90, what="course lab")
        time.sleep(2)  # what Jupyter would print once it serves (before any kernel writes to the log)
        yield printed_url(), page, log.read_text()


def _page_config(page):
    m = re.search(r'<script id="jupyter-config-data" type="application/json">(.*?)</script>', page, re.S)
    assert m, "no JupyterLab page config in the page"
    return json.loads(m.group(1))


@pytest.mark.slow
def test_the_printed_url_opens_lecture_1_with_a_token(lab):
    url, page, _ = lab
    assert re.fullmatch(rf"http://127\.0\.0\.1:\d+/lab/tree/{WORK_DIR}/{LECTURE}\?token=[0-9a-f]{{48}}", url)
    assert _page_config(page)["treePath"] == f"{WORK_DIR}/{LECTURE}"


@pytest.mark.slow
def test_the_url_is_the_last_line_printed_and_jupyters_log_stays_quiet(lab):
    url, _, output = lab
    lines = output.splitlines()
    assert lines[-1] == f"course lab: open {url}", f"the URL must come last; the output ends:\n{lines[-5:]}"
    assert len(lines) <= 5, "Jupyter's start-up log is printed:\n" + "\n".join(lines)
    assert not any("token=..." in line for line in lines), "a masked URL, which does not work when copied"


@pytest.mark.slow
def test_the_lab_does_not_ask_about_jupyter_news(lab):
    config = _page_config(lab[1])
    assert ANNOUNCEMENTS_PLUGIN in config["disabledExtensions"]
    assert config["news"] == {"disabled": True}


@pytest.mark.slow
def test_the_token_is_not_on_the_command_line(lab):
    url, _, _ = lab
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
    """Headless Chromium (as tests/system/test_browser.py): the lecture opens, and no news question appears."""
    pw = chromium_or_skip()
    url, _, _ = lab
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


@pytest.mark.slow
@pytest.mark.parametrize("notebook", [LECTURE, EXERCISE])
def test_in_a_browser_an_untouched_notebook_stays_unmodified_once_its_kernel_is_ready(lab, notebook):
    """JupyterLab writes the kernel's language_info into the notebook when the kernel starts: a notebook
    that said something else was marked as changed (its tab's dirty dot) and asked to be saved on close."""
    pw = chromium_or_skip()
    url, _, _ = lab
    base, token = url.split("/lab/")[0], url.split("token=")[1]
    with pw.sync_playwright() as p:
        browser = launch(p)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(f"{base}/lab/tree/{WORK_DIR}/{notebook}?reset&token={token}")
            page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook").wait_for(timeout=90_000)
            page.get_by_text(re.compile(r"Python 3 \(ipykernel\) \| Idle")).wait_for(timeout=90_000)
            page.wait_for_timeout(3000)  # the kernel's info arrives just after Idle
            tab = page.locator(".lm-DockPanel .lm-TabBar-tab.lm-mod-current")
            assert tab.inner_text().strip() == notebook.split("/")[-1]
            shot(page, "untouched-" + notebook.replace("/", "-"), folder=ARTIFACTS)
            assert "jp-mod-dirty" not in tab.get_attribute("class"), f"{notebook} opened as modified"
        finally:
            browser.close()
