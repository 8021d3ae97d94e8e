"""The hub's configuration, piece by piece, without a hub (tests/system/test_hub.py runs a whole term on one).

What each server sees (``course.programs.hub.user_view``), what each role's Jupyter configuration holds
(``deploy/jupyterhub/etc-jupyter/``: students without the instructor's tools, terminals that find
the course's commands), a student's copy of the lectures (``course.programs.hub_server``), and a course
without solutions (a student's view) that still grades its exercises' visible tests.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from course import units as course_units
from course.programs import hub as course_hub
from course.programs import hub_server

from helpers import ROOT

NBGRADER = "@jupyter/nbgrader:"


def _load(filename, folder, monkeypatch, **env):
    from traitlets.config.loader import JSONFileConfigLoader, PyFileConfigLoader

    monkeypatch.setenv("COURSE_HUB_BIN", os.environ.get("COURSE_HUB_BIN", ""))  # the config sets it: undone after
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    loader = PyFileConfigLoader if filename.endswith(".py") else JSONFileConfigLoader
    return loader(filename, path=str(folder)).load_config()


# ------------------------------------------------------------------ the hub's side
def test_settings_reach_the_hub_config_through_the_environment():
    s = course_hub.HubSettings(
        instructors=["t"], students=["a", "b"], port=9000, subdomain_host="http://h.localhost:9000"
    )
    assert course_hub.HubSettings.from_env(s.env()) == s


def _hub_config(monkeypatch, **extra):
    pytest.importorskip("jupyterhub", reason='JupyterHub is not installed: pip install -e ".[hub]"')
    env = course_hub.HubSettings(instructors=["t"], students=["a", "b"], course_id="c1", **extra).env()
    return _load("jupyterhub_config.py", course_hub.DEPLOY, monkeypatch, **env)


def test_the_hub_config_names_nbgraders_groups_and_frames_only_with_subdomains(monkeypatch):
    c = _hub_config(monkeypatch, subdomain_host="http://hub.localhost:8000")
    assert c.JupyterHub.load_groups == {"formgrade-c1": {"users": ["t"]}, "nbgrader-c1": {"users": ["a", "b"]}}
    assert c.JupyterHub.subdomain_host == "http://hub.localhost:8000"
    assert c.Spawner.environment["COURSE_HUB_FRAME_SELF"] == "1"
    assert "read:users:groups!user" in c.Spawner.server_token_scopes  # JupyterHubAuthPlugin reads its groups
    c = _hub_config(monkeypatch)
    assert "subdomain_host" not in c.JupyterHub and c.Spawner.environment["COURSE_HUB_FRAME_SELF"] == ""


def test_servers_start_through_the_course_and_each_role_gets_its_configuration(monkeypatch):
    c = _hub_config(monkeypatch)
    assert c.Spawner.cmd[1:] == ["-m", "course.programs.hub_server"], "a student's server must copy the lectures first"
    settings = course_hub.HubSettings(instructors=["t"], students=["a"])
    student, teacher = course_hub.role_env("a", settings), course_hub.role_env("t", settings)
    assert student["COURSE_HUB_ROLE"] == "student" and teacher["COURSE_HUB_ROLE"] == "instructor"
    assert student["JUPYTER_CONFIG_PATH"].split(os.pathsep) == [
        str(course_hub.STUDENT_CONFIG),
        str(course_hub.USER_CONFIG),
    ], "the students' layer must come first (it wins)"
    assert teacher["JUPYTER_CONFIG_PATH"] == str(course_hub.USER_CONFIG)


# ------------------------------------------------------------------ the users' side
def test_the_frame_policy_is_self_only_where_users_have_subdomains(monkeypatch):
    c = _load("jupyter_server_config.py", course_hub.USER_CONFIG, monkeypatch, COURSE_HUB_FRAME_SELF="1")
    assert c.ServerApp.tornado_settings["headers"]["Content-Security-Policy"] == "frame-ancestors 'self'"
    c = _load("jupyter_server_config.py", course_hub.USER_CONFIG, monkeypatch, COURSE_HUB_FRAME_SELF="")
    assert "tornado_settings" not in c.ServerApp  # JupyterHub's frame-ancestors 'none' stays


def test_students_have_no_instructor_tools_and_instructors_have_them(monkeypatch):
    from jupyterlab_server.config import get_static_page_config

    def disabled(*folders):
        monkeypatch.setenv("JUPYTER_CONFIG_PATH", os.pathsep.join(map(str, folders)))
        return {k for k, v in get_static_page_config(level="all").get("disabledExtensions", {}).items() if v}

    student = disabled(course_hub.STUDENT_CONFIG, course_hub.USER_CONFIG)
    for plugin in ("create-assignment", "formgrader", "course-list"):
        assert NBGRADER + plugin in student, f"{plugin} is shown to students"
    assert NBGRADER + "assignment-list" not in student and NBGRADER + "validate-assignment" not in student
    assert not {d for d in disabled(course_hub.USER_CONFIG) if d.startswith(NBGRADER)}, "the instructor lost a tool"
    server = _load("jupyter_server_config.json", course_hub.STUDENT_CONFIG, monkeypatch).ServerApp
    assert server.jpserver_extensions == {
        "nbgrader.server_extensions.formgrader": False,
        "nbgrader.server_extensions.course_list": False,
    }


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
def test_terminals_find_the_courses_commands_after_the_profile_resets_path(monkeypatch, tmp_path):
    c = _load("jupyter_server_config.py", course_hub.USER_CONFIG, monkeypatch)
    shell = c.ServerApp.terminado_settings["shell_command"]
    assert shell[0].endswith("bash") and "-l" not in shell and "--login" not in shell, shell
    course_bin = os.environ["COURSE_HUB_BIN"]  # set by the config: the folder of the server's Python
    # what a terminal runs, as a user whose ~/.bashrc and the system's set PATH without the environment
    (tmp_path / ".bashrc").write_text("PATH=/usr/bin:/bin\n")
    env = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "COURSE_HUB_BIN": course_bin, "TERM": "dumb"}
    r = subprocess.run(
        [*shell, "-c", "command -v course nbgrader python"], env=env, capture_output=True, text=True, timeout=30
    )
    assert r.stdout.split() == [f"{course_bin}/{n}" for n in ("course", "nbgrader", "python")], r.stdout + r.stderr


def test_the_feedback_link_plugin_is_a_lab_extension_of_the_users(monkeypatch):
    monkeypatch.setenv("JUPYTER_PATH", str(course_hub.USER_DATA))
    from jupyter_core.paths import jupyter_path
    from jupyterlab_server.config import get_federated_extensions

    found = get_federated_extensions(jupyter_path("labextensions"))
    assert "course-hub-feedback" in found, "the hub's JupyterLab plugin is not found on JUPYTER_PATH"
    entry = course_hub.USER_DATA / "labextensions" / "course-hub-feedback" / "static" / "remoteEntry.js"
    assert "filebrowser:go-to-path" in entry.read_text() and "docmanager:open" in entry.read_text()


# ------------------------------------------------------------------ what a server sees
def test_a_server_never_sees_the_checkouts_solutions_but_sees_its_lectures():
    covers = dict(course_hub.user_view(package_root=ROOT))
    checkout = os.path.realpath(ROOT)
    assert checkout in covers  # an editable checkout with solutions/ is covered ...
    kept = covers[checkout]
    assert os.path.realpath(ROOT / "course") in kept  # ... but for the package
    for public in ("lectures", "exercises", "experiments", "nbgrader_config.py"):
        assert os.path.realpath(ROOT / public) in kept, f"{public} is not shown: course_root() fails there"
    assert not any(Path(k).name in course_hub.PRIVATE for k in kept)


def test_a_private_view_shows_only_what_it_keeps():
    """A checkout under a folder others cannot enter: only its package and public parts appear, read-only."""
    if os.geteuid() != 0:
        pytest.skip("needs root: a view is entered as root before the account's uid is taken")
    top = Path(tempfile.mkdtemp(prefix="course-hub-view-"))
    try:
        os.chmod(top, 0o755)
        repo = top / "private" / "repo"
        for rel in ("solutions/01_x/x.ipynb", "course/__init__.py", "gradebook.db", "lectures/01_x.ipynb"):
            (repo / rel).parent.mkdir(parents=True, exist_ok=True)
            (repo / rel).write_text("secret" if "course" not in rel and "lectures" not in rel else "")
        (repo / "nbgrader_config.py").write_text("c = get_config()\n")
        os.chmod(top / "private", 0o700)
        covers = course_hub.user_view(package_root=repo)
        script = (
            f"ls -A {repo}; cat {repo}/solutions/01_x/x.ipynb; cat {repo}/nbgrader_config.py; touch {repo}/course/new"
        )
        r = subprocess.run(
            ["sh", "-c", script],
            preexec_fn=course_hub.as_user("nobody", covers, cwd="/"),
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert r.stdout.split() == ["course", "lectures", "nbgrader_config.py", "c", "=", "get_config()"], r.stdout
        assert "No such file" in r.stderr and "Read-only file system" in r.stderr, r.stderr
    finally:
        shutil.rmtree(top)


def test_course_root_and_the_lectures_data_are_found_in_another_accounts_view():
    """What unit 6's demo cell and ``course grade`` need, as a student's server has it: no solutions/."""
    if os.geteuid() != 0:
        pytest.skip("needs root: a view is entered as root before the account's uid is taken")
    script = (
        "from course.units import course_root, units; r = course_root(); "
        "print((r / 'experiments' / 'results' / 'adding_lstm.pt').is_file(), (r / 'solutions').exists(), len(units()))"
    )
    r = subprocess.run(
        [sys.executable, "-c", script],
        preexec_fn=course_hub.as_user("nobody", course_hub.user_view(), cwd="/"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.stdout.split() == ["True", "False", str(len(course_units.units(ROOT)))], r.stdout + r.stderr[-2000:]


def test_a_course_without_solutions_grades_its_released_exercises(tmp_path):
    """A student's view of the course has exercises/ only: they are the sources (visible tests only)."""
    shutil.copytree(ROOT / "exercises", tmp_path / "exercises")
    shutil.copy(ROOT / "nbgrader_config.py", tmp_path)
    found = course_units.units(tmp_path)
    assert [u.id for u in found] == [u.id for u in course_units.units(ROOT)]
    unit = found[0]
    assert unit.source_dir == unit.release_dir and unit.source_notebooks, "no source to grade against"
    assert course_units.units(ROOT)[0].source_dir == ROOT / "solutions" / unit.id  # the instructor's: unchanged


# ------------------------------------------------------------------ a student's lectures
def _lectures(tmp_path, **files):
    return {name.replace("_ipynb", ".ipynb"): text.encode() for name, text in files.items()}


def test_lectures_are_copied_then_updated_where_the_student_did_not_change_them(tmp_path):
    dest = tmp_path / "lectures"
    first = hub_server.sync(_lectures(tmp_path, a_ipynb="v1", b_ipynb="v1"), dest)
    assert first == {"a.ipynb": "copied", "b.ipynb": "copied"} and (dest / "a.ipynb").read_text() == "v1"
    assert hub_server.sync(_lectures(tmp_path, a_ipynb="v2", b_ipynb="v1"), dest) == {
        "a.ipynb": "updated",
        "b.ipynb": "kept",
    }
    assert (dest / "a.ipynb").read_text() == "v2"


def test_a_students_own_changes_are_never_overwritten(tmp_path):
    dest = tmp_path / "lectures"
    hub_server.sync(_lectures(tmp_path, a_ipynb="v1"), dest)
    (dest / "a.ipynb").write_text("my notes")
    assert hub_server.sync(_lectures(tmp_path, a_ipynb="v2"), dest) == {"a.ipynb": "beside"}
    assert (dest / "a.ipynb").read_text() == "my notes" and (dest / "a.new.ipynb").read_text() == "v2"
    # a file the student had before the first sync is theirs too
    (dest / "c.ipynb").write_text("mine")
    hub_server.sync(_lectures(tmp_path, c_ipynb="course's"), dest)
    assert (dest / "c.ipynb").read_text() == "mine"


def test_a_deleted_lecture_comes_back(tmp_path):
    dest = tmp_path / "lectures"
    hub_server.sync(_lectures(tmp_path, a_ipynb="v1"), dest)
    (dest / "a.ipynb").unlink()
    assert hub_server.sync(_lectures(tmp_path, a_ipynb="v1"), dest) == {"a.ipynb": "copied"}


def test_a_student_finds_the_lectures_and_a_landing_page_that_points_to_the_assignments_tab(tmp_path):
    hub_server.prepare_student(tmp_path, "rnn", ROOT / "lectures")
    names = sorted(p.name for p in (tmp_path / "lectures").glob("*.ipynb"))
    assert names == sorted(p.name for p in (ROOT / "lectures").glob("*.ipynb"))
    landing = (tmp_path / "README.md").read_text()
    for what in ("lectures/", "Assignments", "course grade", "visible tests", "Submit", "view feedback"):
        assert what in landing, f"the landing page does not mention {what!r}"
    record = json.loads((tmp_path / "lectures" / hub_server.SYNC_RECORD).read_text())
    assert set(record) == set(names)
