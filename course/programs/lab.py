"""``course lab``: JupyterLab 4 on the course, with nbgrader's extensions.

Students get nbgrader's assignment list and the Validate button of the notebook toolbar;
instructors get the formgrader (menu Nbgrader > Formgrader, or ``/formgrader``), which reads
the course's ``gradebook.db``. All of them come with the ``nbgrader`` package: its server
extensions are enabled by the ``jupyter_server_config.d/nbgrader.json`` it installs and its
lab extension lies in ``share/jupyter/labextensions/@jupyter/nbgrader``;
:func:`missing_extensions` says when either is absent or disabled.

A student's work is theirs: ``course lab`` copies each lecture and released exercise into
``my-work/`` (:func:`personal_copies`: ``my-work/lectures/01_perceptron.ipynb``,
``my-work/exercises/01_perceptron/perceptron.ipynb``) the first time, follows a newer version of
the course only in copies the student has not changed, and opens the student's copy of the first
lecture; ``my-work/`` is gitignored, so ``git pull`` never touches an answer. The copies carry
this Python's ``language_info`` (:mod:`course.instructor.notebook_format`), so JupyterLab opens them unmodified.

First contact: Jupyter's start-up log is quiet (warnings only), and once the server answers,
``course lab`` prints one line last: the URL (with its login token) that opens the first lecture.
JupyterLab's announcements (the "Would you like to get notified about official Jupyter news?" pop-up and the
check for updates) are switched off for the course, as JupyterLab's documentation describes
(https://jupyterlab.readthedocs.io/en/stable/user/announcements.html): the plugin
``@jupyterlab/apputils-extension:announcements`` is disabled in a configuration folder of the
lab's own (on ``JUPYTER_CONFIG_PATH``, removed when the lab stops), the news feed is unset
(``LabApp.news_url=None``) and updates are never checked (``jupyterlab.NeverCheckForUpdate``);
nothing of the user's own settings changes.
"""

import hashlib
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

from course import units as course_units
from course.instructor.notebook_format import local_language_info, normalised_text

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
#: Jupyter's start-up log (some 30 lines, ending with a URL whose token is masked) down to warnings.
LOG_OPTIONS = ("--ServerApp.log_level=WARN", "--LabApp.log_level=WARN")
#: The student's folder in the course: copies of the lectures and exercises, gitignored.
WORK_DIR = "my-work"


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
        *LOG_OPTIONS,
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


def _sha(text):
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _read_manifest(path):
    """The record of the copies made (``{relative path: {"release": sha, "copy": sha}}``); {} if unreadable."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def personal_copies(root, work=None):
    """The student's copies, in ``work`` (default ``root/my-work``), of every lecture and released
    exercise of the course at ``root``, in the course's layout. Returns ``(written, kept)``: the
    copies written now, and the copies kept although the course's version changed (the student's).

    A copy is made the first time. It is written again only while it is untouched (its content as
    made, recorded in ``my-work/.copies.json``) and the course's version has changed since; a copy
    the student changed (saved answers, outputs) is never overwritten, only listed in ``kept``:
    renaming or deleting it gets the course's version at the next ``course lab``. Each copy is
    written with this Python's ``language_info``, which JupyterLab then finds unchanged.
    """
    root = Path(root)
    work = Path(work) if work else root / WORK_DIR
    manifest_path = work / ".copies.json"
    manifest = _read_manifest(manifest_path)
    sources = []
    for unit in course_units.units(root):
        sources += [unit.lecture] if unit.lecture.is_file() else []
        sources += sorted(unit.release_dir.glob("*.ipynb"))
    info, written, kept = local_language_info(), [], []
    for src in sources:
        rel = src.relative_to(root).as_posix()
        dest, release = work / rel, src.read_text(encoding="utf-8")
        made = manifest.get(rel) if isinstance(manifest.get(rel), dict) else None
        if dest.exists():
            if made is None or made.get("release") == _sha(release):
                continue  # up to date, or made before copies were recorded: left as it is
            if made.get("copy") != _sha(dest.read_text(encoding="utf-8", errors="replace")):
                kept.append(dest)  # the student's: never overwritten
                continue
        text = normalised_text(release, info)
        dest.parent.mkdir(parents=True, exist_ok=True)
        if dest.exists():  # untouched: replaced whole (a reader never sees half a notebook)
            tmp = dest.with_name(f".{dest.name}.new")
            tmp.write_text(text, encoding="utf-8")
            os.replace(tmp, dest)
        else:
            try:
                with open(dest, "x", encoding="utf-8") as f:  # "x": never over a copy made meanwhile
                    f.write(text)
            except FileExistsError:
                continue
        manifest[rel] = {"release": _sha(release), "copy": _sha(text)}
        written.append(dest)
    if written:
        manifest_path.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return written, kept


def first_notebook(root):
    """The notebook the lab opens (relative to ``root``): the student's copy of the first lecture,
    else the first lecture, else None."""
    all_units = course_units.units(root)
    if not all_units or not all_units[0].lecture.exists():
        return None
    lecture = all_units[0].lecture.relative_to(root)
    copy = Path(WORK_DIR) / lecture
    return copy if (Path(root) / copy).is_file() else lecture


def wait_until_serving(proc, timeout=120):
    """Waits until the Jupyter server ``proc`` listens: it has written its server-info file
    (``jpserver-<pid>.json`` in Jupyter's runtime folder, this user's own), after binding its port.
    Returns True then; False when ``proc`` has exited or ``timeout`` seconds have passed."""
    from jupyter_core.paths import jupyter_runtime_dir

    info = Path(jupyter_runtime_dir()) / f"jpserver-{proc.pid}.json"
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        if info.exists():
            return True
        time.sleep(0.25)
    return False


def run_lab(root=None, port=8888, ip="127.0.0.1", open_browser=True, token=None, extra=()):
    """Start JupyterLab on the course, at the student's copy of the first lecture; returns its exit status.

    The course is found as the instructor's commands find it (``course.instructor.course_dir.find_course``):
    ``$COURSE_ROOT``, else the nearest folder holding ``nbgrader_config.py`` from here up, else
    this package's course. The URL to open is the last line printed, once the server answers.
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
    try:
        made, kept = personal_copies(root)
    except OSError as e:  # a read-only checkout: the lab opens the course's own notebooks
        made, kept = [], []
        print(f"course lab: warning: no copies made in {WORK_DIR}/ ({e})", file=sys.stderr)
    if made:
        print(f"course lab: copied {len(made)} notebook(s) of the course into {WORK_DIR}/ for you", flush=True)
    for path in kept:
        print(
            f"course lab: {path.relative_to(root)} is yours (changed) and kept; the course's version is newer: "
            "rename your copy to get it at the next course lab",
            flush=True,
        )
    first = first_notebook(root)
    cmd = lab_command(root, port=port, ip=ip, open_browser=open_browser, token=token, notebook=first, extra=extra)
    secret = token if token is not None else secrets.token_hex(24)
    print(
        f"course lab: starting JupyterLab on {root} (Ctrl-C stops it); your work is in {WORK_DIR}/, "
        "which git pull never changes",
        flush=True,
    )
    config_dir = write_course_config(tempfile.mkdtemp(prefix="course-lab-config-"))
    proc = subprocess.Popen(cmd, cwd=root, env=lab_env(config_dir=config_dir, token=secret))
    try:
        url = lab_url(ip, port, first, secret)
        if wait_until_serving(proc):
            print(f"course lab: open {url}", flush=True)
        elif proc.poll() is None:
            print(f"course lab: JupyterLab is slow to start; once it answers, open {url}", flush=True)
        return proc.wait()
    except KeyboardInterrupt:  # Jupyter has the Ctrl-C too: stop it without its yes/no question
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        return 0
    finally:
        shutil.rmtree(config_dir, ignore_errors=True)
