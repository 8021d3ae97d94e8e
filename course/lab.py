"""``course lab``: JupyterLab 4 on the course, with nbgrader's extensions.

Students get nbgrader's assignment list and the Validate button of the notebook toolbar;
instructors get the formgrader (menu Nbgrader > Formgrader, or ``/formgrader``), which reads
the course's ``gradebook.db``. All of them come with the ``nbgrader`` package: its server
extensions are enabled by the ``jupyter_server_config.d/nbgrader.json`` it installs and its
lab extension lies in ``share/jupyter/labextensions/@jupyter/nbgrader``;
:func:`missing_extensions` says when either is absent or disabled.

First contact: ``course lab`` opens the first lecture, and with ``--no-browser`` it prints a URL
(with its login token) that opens the first lecture, not the launcher. JupyterLab's
announcements (the "Would you like to get notified about official Jupyter news?" pop-up and the
check for updates) are switched off for the course, as JupyterLab's documentation describes
(https://jupyterlab.readthedocs.io/en/stable/user/announcements.html): the plugin
``@jupyterlab/apputils-extension:announcements`` is disabled in a configuration folder of the
lab's own (on ``JUPYTER_CONFIG_PATH``, removed when the lab stops), the news feed is unset
(``LabApp.news_url=None``) and updates are never checked (``jupyterlab.NeverCheckForUpdate``);
nothing of the user's own settings changes.
"""

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import quote

from course import units as course_units

#: nbgrader's server extensions that the lab needs: the formgrader (instructors), the assignment
#: list and the Validate button (students).
NBGRADER_SERVER_EXTENSIONS = (
    "nbgrader.server_extensions.formgrader",
    "nbgrader.server_extensions.assignment_list",
    "nbgrader.server_extensions.validate_assignment",
)
NBGRADER_LAB_EXTENSION = "@jupyter/nbgrader"
#: JupyterLab's plugin that asks about Jupyter news and checks for updates: off for the course.
ANNOUNCEMENTS_PLUGIN = "@jupyterlab/apputils-extension:announcements"
#: The server side of the same: no news feed, no update check (the course works offline).
QUIET_OPTIONS = ("--LabApp.news_url=None", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate")


def port_free(port, ip="127.0.0.1"):
    """Whether ``ip:port`` can be bound now (a JupyterLab already on it makes this False)."""
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        try:
            s.bind((ip, port))
        except OSError:
            return False
    return True


def free_port(ip="127.0.0.1"):
    """A port that is free on ``ip`` now (for tests and scripts)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((ip, 0))
        return s.getsockname()[1]


def missing_extensions():
    """The nbgrader extensions that JupyterLab would not load here, with the command that fixes each."""
    from jupyter_core.paths import jupyter_config_path, jupyter_path
    from jupyter_server.extension.config import ExtensionConfigManager

    enabled = ExtensionConfigManager(read_config_path=jupyter_config_path()).get_jpserver_extensions()
    missing = [
        (name, f"jupyter server extension enable --sys-prefix {name}")
        for name in NBGRADER_SERVER_EXTENSIONS
        if not enabled.get(name)
    ]
    if not any((Path(p) / NBGRADER_LAB_EXTENSION).is_dir() for p in jupyter_path("labextensions")):
        missing.append((NBGRADER_LAB_EXTENSION, "pip install --force-reinstall nbgrader==0.9.6"))
    return missing


def ensure_exchange(root):
    """Creates the nbgrader exchange that the course's ``nbgrader_config.py`` names, if missing.

    Without it the formgrader says that release and collect are unavailable. Returns its path (or None).
    """
    from traitlets.config.loader import PyFileConfigLoader

    config = PyFileConfigLoader("nbgrader_config.py", path=str(root)).load_config()
    exchange = config.Exchange.get("root") if "Exchange" in config else None
    if exchange:
        Path(exchange).mkdir(parents=True, exist_ok=True)
    return exchange


def lab_command(root, port=8888, ip="127.0.0.1", open_browser=True, token=None, notebook=None, extra=()):
    """The ``jupyter lab`` command line for the course at ``root`` (a list of strings).

    ``notebook`` (relative to ``root``) is opened at start and is where the URLs that Jupyter
    prints lead; ``token`` fixes the login token on the command line (``run_lab`` passes its own
    through the environment instead, where other users cannot read it). ``--allow-root`` is added
    only when running as root, where Jupyter refuses to start without it.
    """
    cmd = [
        sys.executable,
        "-m",
        "jupyter",
        "lab",
        f"--port={port}",
        "--port-retries=0",
        f"--ip={ip}",
        f"--ServerApp.root_dir={root}",
        *QUIET_OPTIONS,
    ]
    if notebook is not None:
        cmd.append(f"--LabApp.default_url={notebook_url_path(notebook)}")
    if not open_browser:
        cmd.append("--no-browser")
    if token is not None:
        cmd.append(f"--IdentityProvider.token={token}")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    cmd += list(extra)
    if notebook is not None:
        cmd.append(str(notebook))
    return cmd


def notebook_url_path(notebook):
    """The JupyterLab path that opens ``notebook`` (relative to the lab's root): ``/lab/tree/...``."""
    return "/lab/tree/" + quote(Path(notebook).as_posix())


def lab_url(ip, port, notebook=None, token=None):
    """The URL to open the lab at ``notebook``, with its login token (a loopback address for 0.0.0.0 and ::)."""
    host = "127.0.0.1" if ip in ("0.0.0.0", "", "localhost") else "[::1]" if ip == "::" else ip
    host = f"[{host}]" if ":" in host and not host.startswith("[") else host
    path = notebook_url_path(notebook) if notebook is not None else "/lab"
    return f"http://{host}:{port}{path}" + (f"?token={quote(token)}" if token else "")


def write_course_config(folder):
    """Jupyter configuration of the course's lab in ``folder`` (to prepend to ``JUPYTER_CONFIG_PATH``).

    ``labconfig/page_config.json`` disables the announcements plugin: no news pop-up.
    """
    labconfig = Path(folder) / "labconfig"
    labconfig.mkdir(parents=True, exist_ok=True)
    (labconfig / "page_config.json").write_text(json.dumps({"disabledExtensions": {ANNOUNCEMENTS_PLUGIN: True}}))
    return Path(folder)


def lab_env(env=None, config_dir=None, token=None):
    """The environment for the lab: this Python's ``bin`` first on PATH, the course's config, the token.

    nbgrader runs the ``alembic`` executable from PATH when the formgrader creates the
    gradebook; started as ``.venv/bin/course lab`` without an activated venv, it would not be found.
    ``config_dir`` (see :func:`write_course_config`) goes first on ``JUPYTER_CONFIG_PATH``;
    ``token`` becomes ``JUPYTER_TOKEN`` (not visible in the process list, unlike an argument).
    """
    env = dict(os.environ if env is None else env)
    bindir = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join([bindir] + [p for p in env.get("PATH", "").split(os.pathsep) if p and p != bindir])
    if config_dir is not None:
        env["JUPYTER_CONFIG_PATH"] = os.pathsep.join([str(config_dir), *filter(None, [env.get("JUPYTER_CONFIG_PATH")])])
    if token is not None:
        env["JUPYTER_TOKEN"] = token
    return env


def run_lab(root=None, port=8888, ip="127.0.0.1", open_browser=True, token=None, extra=()):
    """Start JupyterLab on the course, at the first lecture; returns its exit status.

    The course is found as the instructor's commands find it (``course.instructor.find_course``):
    ``$COURSE_ROOT``, else the nearest folder holding ``nbgrader_config.py`` from here up, else
    this package's course.
    """
    from course.instructor import find_course

    root = Path(root) if root else find_course()
    if not port_free(port, ip):
        print(
            f"course lab: port {port} is already in use on {ip} (another JupyterLab?). "
            f"Open it, stop it, or choose another port: course lab --port {port + 1}",
            file=sys.stderr,
        )
        return 1
    try:
        ensure_exchange(root)
    except Exception as e:  # an unreadable config or an unwritable folder: the lab still works
        print(f"course lab: warning: no nbgrader exchange ({type(e).__name__}: {e})", file=sys.stderr)
    for name, fix in missing_extensions():
        print(f"course lab: warning: nbgrader extension {name} is not enabled; fix: {fix}", file=sys.stderr)
    all_units = course_units.units(root)
    first = all_units[0].lecture.relative_to(root) if all_units and all_units[0].lecture.exists() else None
    cmd = lab_command(root, port=port, ip=ip, open_browser=open_browser, token=token, notebook=first, extra=extra)
    secret = token if token is not None else secrets.token_hex(24)
    print("course lab:", " ".join(cmd), flush=True)
    print(f"course lab: open {lab_url(ip, port, first, secret)}", flush=True)
    config_dir = write_course_config(tempfile.mkdtemp(prefix="course-lab-config-"))
    try:
        return subprocess.call(cmd, cwd=root, env=lab_env(config_dir=config_dir, token=secret))
    except KeyboardInterrupt:  # Ctrl-C twice: Jupyter has already shut down
        return 0
    finally:
        shutil.rmtree(config_dir, ignore_errors=True)
