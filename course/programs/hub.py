"""``course hub``: the course on a JupyterHub on one machine, for a class with real Unix accounts.

What it sets up, then starts (``deploy/jupyterhub/jupyterhub_config.py`` holds the hub's side,
``deploy/jupyterhub/etc-jupyter/`` the users' side; ``deploy/jupyterhub/README.md`` says why):

* **Accounts.** Every instructor and student is a local Unix account (the administrator makes
  them: ``useradd -m NAME``, ``passwd NAME``); they log in with their password (PAM) and each
  one's server runs *as that account* (JupyterHub's ``LocalProcessSpawner``). Homes must not be
  readable by other accounts (``chmod 700``): a student's answers live there.
* **The course directory** is a copy of this repository (without the package ``course/``, which
  comes from the installation) in each instructor's home, ``~/<course_id>-course`` (mode 0700:
  the solutions and the gradebook are the instructor's alone), with
  ``~/.jupyter/nbgrader_config.py`` naming it and the course id. The copy's own
  ``nbgrader_config.py`` gets ``timestamp.txt`` and ``submission_secret.txt`` added to
  ``CourseDirectory.include`` (else ``nbgrader collect`` drops them and ``release_feedback``
  fails). The instructor's formgrader runs in their own server (nbgrader's "one class, one
  grader" layout); ``course autograde`` there grades ``submitted/<student>/<unit>/`` as ordinary
  users do (sandboxed).
* **The exchange** is a folder shared by every account, ``/srv/nbgrader/exchange`` (mode 1777,
  as nbgrader documents, sticky so that nobody removes another's folder). A course's folders in
  it are the instructor's, made by :func:`prepare_exchange` before any student can; its
  ``inbound/`` is write-only for students (mode 3733: nobody can list the submissions), feedback
  is filed under a hash that includes each submission's secret. Who handed a submission in, and
  when, is the file system's word, not the submission's (``course.instructor.exchange``'s collect).
  ``path_includes_course`` and the ``JupyterHubAuthPlugin`` make it multi-course: students see
  the courses of their ``nbgrader-<course>`` groups, instructors are in ``formgrade-<course>``.
* **What each server sees** (:func:`user_view`). Where the course's Python or package lies
  under a folder other accounts cannot enter (a venv on a Python under ``/root``, say), or the
  package is an editable checkout whose ``solutions/`` other accounts could read, each server
  starts in a private mount namespace of its own in which that folder is an empty, read-only
  tmpfs with only what the server needs bound back, read-only: the Python installation, the
  venv, the package ``course/`` and the users' Jupyter configuration. Nothing else of the
  checkout exists there (never its ``solutions/``).
* **The formgrader's iframe** (nbgrader #1870): JupyterHub >= 4.1 sends ``frame-ancestors
  'none'``, so the formgrader panel of JupyterLab stays blank. ``course hub`` serves every
  user from a subdomain of their own (``JupyterHub.subdomain_host``, by default
  ``http://hub.localhost:PORT``; browsers resolve ``*.localhost`` to this machine) and only then
  lets a server's pages frame pages of the same origin (``frame-ancestors 'self'``), which
  nbgrader's documentation gives as the secure way: no other account's pages share that origin.

Everything is passed to the hub's configuration in ``COURSE_HUB_*`` environment variables
(:class:`HubSettings`), so ``jupyterhub -f deploy/jupyterhub/jupyterhub_config.py`` works too.
"""

import os
import pwd
import shutil
import signal
import stat
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from course import units as course_units
from course.grading import namespaces
from course.grading.namespaces import (
    CLONE_NEWNS,
    MS_BIND,
    MS_NODEV,
    MS_NOSUID,
    MS_PRIVATE,
    MS_RDONLY,
    MS_REC,
    MS_REMOUNT,
)
from course.grading.namespaces import mount as _mount
from course.programs import extras

COURSE_ID = "rnn"
DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "jupyterhub"
#: The users' Jupyter configuration (nbgrader's global config, the server's headers, the lab's settings).
USER_CONFIG = DEPLOY / "etc-jupyter"
#: Students' layer above it: the instructor's tools (create assignment, formgrader, course list) off.
STUDENT_CONFIG = USER_CONFIG / "student"
#: The users' Jupyter data folder (JUPYTER_PATH): the hub's JupyterLab plugin (the feedback link opens the page).
USER_DATA = DEPLOY / "share-jupyter"
EXCHANGE = "/srv/nbgrader/exchange"
STATE = "/srv/course-hub"
#: Folders of a course checkout that no server of the hub ever sees (the rest is not shown either).
PRIVATE = (
    "solutions",
    "submitted",
    "autograded",
    "feedback",
    "gradebook.db",
    "nbgrader_exchange",
    "reports",
    "autograde-logs",
)
#: What every server sees of the course checkout besides the package (read-only): what students are given
#: anyway (the lectures, the released exercises, the experiments' results the lectures load) and the config
#: that makes it the course's root for ``course_root()`` and ``course grade`` (which grades visible tests there).
PUBLIC = ("lectures", "exercises", "experiments", "nbgrader_config.py")
#: Not copied into an instructor's course directory: the package comes from the installation (a
#: second copy there would be imported instead by ``python -m`` run in that folder, e.g. the graders).
PACKAGE = ("course", "course.egg-info")


class HubError(Exception):
    """The machine is not ready for the hub (not root, a missing account, a readable home): says what to do."""


def _names(value):
    return [n for n in (value or "").replace(",", " ").split() if n]


@dataclass
class HubSettings:
    """How the hub is run; read by ``jupyterhub_config.py`` from ``COURSE_HUB_*`` variables."""

    instructors: list = field(default_factory=list)
    students: list = field(default_factory=list)
    course_id: str = COURSE_ID
    ip: str = "127.0.0.1"
    port: int = 8000
    hub_port: int = 8081
    proxy_api_port: int = 8001
    state: str = STATE
    exchange: str = EXCHANGE
    subdomain_host: str = ""  # e.g. http://hub.localhost:8000 ("" serves every user from one origin)

    def env(self):
        return {
            "COURSE_HUB_INSTRUCTORS": ",".join(self.instructors),
            "COURSE_HUB_STUDENTS": ",".join(self.students),
            "COURSE_HUB_COURSE_ID": self.course_id,
            "COURSE_HUB_IP": self.ip,
            "COURSE_HUB_PORT": str(self.port),
            "COURSE_HUB_HUB_PORT": str(self.hub_port),
            "COURSE_HUB_PROXY_API_PORT": str(self.proxy_api_port),
            "COURSE_HUB_STATE": self.state,
            "COURSE_HUB_EXCHANGE": self.exchange,
            "COURSE_HUB_SUBDOMAIN_HOST": self.subdomain_host,
        }

    @classmethod
    def from_env(cls, env=None):
        env = os.environ if env is None else env
        get = lambda k, d: env.get("COURSE_HUB_" + k) or d  # noqa: E731
        return cls(
            instructors=_names(get("INSTRUCTORS", "")),
            students=_names(get("STUDENTS", "")),
            course_id=get("COURSE_ID", COURSE_ID),
            ip=get("IP", "127.0.0.1"),
            port=int(get("PORT", 8000)),
            hub_port=int(get("HUB_PORT", 8081)),
            proxy_api_port=int(get("PROXY_API_PORT", 8001)),
            state=get("STATE", STATE),
            exchange=get("EXCHANGE", EXCHANGE),
            subdomain_host=get("SUBDOMAIN_HOST", ""),
        )


def course_dir(instructor, course_id=COURSE_ID):
    """The instructor's course directory: ``~instructor/<course_id>-course``."""
    return Path(pwd.getpwnam(instructor).pw_dir) / f"{course_id}-course"


# ------------------------------------------------------------------ what a user's server sees
def _blocked_top(path):
    """The outermost folder above (or at) ``path`` that other accounts cannot enter, else None."""
    path = Path(os.path.realpath(path))
    for folder in [*reversed(path.parents), path]:
        if not os.stat(folder).st_mode & stat.S_IXOTH:
            return folder
    return None


def user_view(package_root=None, python=None):
    """[(folder, [kept paths])]: folders to cover with an empty tmpfs in a server's mount namespace.

    Each kept path (a subfolder of its folder) is bound back read-only. Covered: a course
    checkout that holds ``solutions/`` (only ``course/``, the :data:`PUBLIC` parts, the venv and
    the users' config kept),
    and the outermost folder others cannot enter above the Python installation, the venv or the
    package. Empty when everything the servers need is already reachable and nothing is private.
    """
    python = Path(python or sys.executable)
    package_root = Path(package_root or Path(__file__).resolve().parents[2])
    needed = [
        Path(os.path.realpath(p))
        for p in {sys.base_prefix, sys.prefix, python.parent.parent, package_root / "course", USER_CONFIG, USER_DATA}
    ]
    needed += [Path(os.path.realpath(package_root / p)) for p in PUBLIC if (package_root / p).exists()]
    needed = sorted(set(needed))
    covers = {}
    if (package_root / "solutions").exists():
        checkout = Path(os.path.realpath(package_root))
        covers[checkout] = [p for p in needed if checkout in p.parents]
    for p in needed:
        top = _blocked_top(p)
        if top is not None and not any(c == top or c in top.parents for c in covers):
            covers[top] = [q for q in needed if top in q.parents]
    # an outer cover first; a kept path of the outer cover that lies in an inner one is bound there
    ordered = sorted(covers.items(), key=lambda kv: len(kv[0].parts))
    return [(str(c), [str(k) for k in keep if not _inside_other(k, c, covers)]) for c, keep in ordered]


def _inside_other(path, cover, covers):
    return any(o != cover and cover in o.parents and o in path.parents for o in covers)


def enter_view(covers):
    """As root, in the process that will become a user's: a private mount namespace with ``covers`` applied."""
    if not covers:
        return
    namespaces.unshare(CLONE_NEWNS)
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    # opened in the new namespace (a bind source must be one of its mounts), before anything is covered
    fds = {k: os.open(k, os.O_PATH | os.O_CLOEXEC) for _, keep in covers for k in keep}
    for folder, keep in covers:  # outer covers first
        os.makedirs(folder, mode=0o755, exist_ok=True)  # an inner cover's folder, inside an outer tmpfs
        _mount("tmpfs", folder, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=4m")
        for k in keep:
            if stat.S_ISDIR(os.fstat(fds[k]).st_mode):
                os.makedirs(k, mode=0o755, exist_ok=True)
            else:  # a file (nbgrader_config.py) is bound onto an empty file
                os.makedirs(os.path.dirname(k), mode=0o755, exist_ok=True)
                os.close(os.open(k, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o644))
            _mount(f"/proc/self/fd/{fds[k]}", k, None, MS_BIND | MS_REC)
            _mount(None, k, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)
    for folder, _ in reversed(covers):  # read-only once every inner mount point exists
        _mount(None, folder, None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, "mode=0755")
    for fd in fds.values():
        os.close(fd)


def as_user(name, covers=(), cwd=None):
    """A ``preexec_fn``: enter the view (as root), then become account ``name`` and go to its home (or ``cwd``)."""
    pw = pwd.getpwnam(name)

    def preexec():
        enter_view(covers)
        os.setgid(pw.pw_gid)
        os.initgroups(pw.pw_name, pw.pw_gid)
        os.setuid(pw.pw_uid)
        os.chdir(cwd or pw.pw_dir)

    return preexec


def role_env(name, settings):
    """What differs between an instructor's server and a student's: the role and the Jupyter configuration."""
    role = "instructor" if name in settings.instructors else "student"
    config = [str(USER_CONFIG)] if role == "instructor" else [str(STUDENT_CONFIG), str(USER_CONFIG)]
    return {
        "COURSE_HUB_ROLE": role,
        "COURSE_HUB_COURSE_ID": settings.course_id,
        "JUPYTER_CONFIG_PATH": os.pathsep.join(config),  # the first folder wins
    }


def user_env(name, settings, extra=None):
    """The environment of a process of account ``name`` on the hub (as its server gets it)."""
    pw = pwd.getpwnam(name)
    bindir = str(Path(sys.executable).parent)
    env = {
        "USER": name,
        "LOGNAME": name,
        "HOME": pw.pw_dir,
        "SHELL": pw.pw_shell or "/bin/bash",
        "LANG": os.environ.get("LANG", "C.UTF-8"),
        "PATH": os.pathsep.join([bindir, "/usr/local/bin", "/usr/bin", "/bin"]),
        "JUPYTER_PATH": str(USER_DATA),
        "COURSE_HUB_EXCHANGE": settings.exchange,
        "COURSE_HUB_FRAME_SELF": "1" if settings.subdomain_host else "",
        **role_env(name, settings),
    }
    env.update(extra or {})
    return env


# ------------------------------------------------------------------ setting the machine up
def check_accounts(names):
    """Every name is a local account whose home other accounts cannot read; else HubError saying what to run."""
    problems = []
    for name in names:
        try:
            pw = pwd.getpwnam(name)
        except KeyError:
            problems.append(f"{name}: no such account (useradd -m {name} && passwd {name})")
            continue
        try:
            mode = os.stat(pw.pw_dir).st_mode
        except OSError:
            problems.append(f"{name}: no home folder {pw.pw_dir} (mkhomedir_helper {name})")
            continue
        if mode & 0o007:
            problems.append(f"{name}: {pw.pw_dir} can be read by other accounts (chmod 700 {pw.pw_dir})")
    if problems:
        raise HubError("accounts not ready:\n  " + "\n  ".join(problems))


def prepare_exchange(path=EXCHANGE, course_id=None, instructor=None):
    """nbgrader's shared exchange: every account may create a folder in it, nobody may remove another's.

    With ``course_id`` and ``instructor``, the course's folders in it too (``<course>/``, ``inbound``,
    ``outbound``, ``feedback``), the instructor's before any student can make them: one a student
    made first (it would block ``release_assignment``, or receive it) is moved aside, and said so.
    """
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    os.chown(path, 0, 0)
    os.chmod(path, 0o1777)
    for parent in path.parents:  # each account must be able to reach it
        if not os.stat(parent).st_mode & stat.S_IXOTH:
            raise HubError(f"the exchange {path} lies in {parent}, which other accounts cannot enter")
    if course_id and instructor:
        from course.instructor.exchange import prepare_course_folders  # nbgrader's exchange: loaded only here

        try:
            for line in prepare_course_folders(path, course_id, instructor):
                print(f"course hub: {line}", file=sys.stderr)
        except OSError as e:
            raise HubError(f"the course's folders in the exchange {path}: {e.strerror or e}") from None
    return path


def _tracked_files(source):
    try:
        out = subprocess.run(["git", "-C", str(source), "ls-files", "-z"], capture_output=True, check=True)
        return [f for f in out.stdout.decode().split("\0") if f]
    except (OSError, subprocess.CalledProcessError):  # not a git checkout: everything but what grading writes
        skip = {".git", ".venv", "site", "test-artifacts", *PRIVATE[1:]}
        return [
            str(p.relative_to(source))
            for p in sorted(Path(source).rglob("*"))
            if p.is_file() and not (set(p.relative_to(source).parts) & skip)
        ]


#: What ``course hub`` adds to an instructor's copy of nbgrader_config.py when it is not there.
EXCHANGE_FILES_CONFIG = """
# Added by `course hub`: nbgrader collect copies only the files `include` names; release_feedback
# needs each submission's timestamp.txt and submission_secret.txt beside it.
c.CourseDirectory.include += ["timestamp.txt", "submission_secret.txt"]
"""


def _keep_exchange_files(config):
    """Make ``nbgrader collect`` keep a submission's exchange files (the course's config includes only notebooks)."""
    text = config.read_text(encoding="utf-8")
    if "CourseDirectory.include" in text and "submission_secret.txt" not in text:
        config.write_text(text + EXCHANGE_FILES_CONFIG, encoding="utf-8")


def prepare_instructor(name, settings, source=None):
    """The instructor's course directory (a copy of ``source``, first time only), their nbgrader config.

    Returns the course directory. Owned by the instructor, mode 0700; its ``nbgrader_exchange``
    (where the course's nbgrader_config.py puts the exchange) leads to the shared exchange.
    """
    source = Path(source or course_units.course_root())
    pw = pwd.getpwnam(name)
    root = course_dir(name, settings.course_id)
    if not (root / "nbgrader_config.py").exists():
        root.mkdir(mode=0o700, parents=True, exist_ok=True)
        for rel in _tracked_files(source):
            if rel.split("/", 1)[0] in PACKAGE:
                continue
            src, dst = source / rel, root / rel
            if src.is_file() and not src.is_symlink():
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, dst)
    _keep_exchange_files(root / "nbgrader_config.py")
    link = root / "nbgrader_exchange"
    if link.is_symlink() or not link.exists():
        if link.is_symlink():
            link.unlink()
        link.symlink_to(settings.exchange)
    config = Path(pw.pw_dir) / ".jupyter" / "nbgrader_config.py"
    config.parent.mkdir(exist_ok=True)
    config.write_text(
        "# Written by `course hub`: this account's course (nbgrader finds the course directory here).\n"
        "c = get_config()  # noqa: F821\n"
        f"c.CourseDirectory.root = {str(root)!r}\n"
        f"c.CourseDirectory.course_id = {settings.course_id!r}\n"
        "# collect only what each student's account wrote (also outside the hub's servers, e.g. over ssh)\n"
        'c.ExchangeFactory.collect = "course.instructor.exchange.AuthenticatedCollect"\n'
    )
    for path in (root, config.parent):
        subprocess.run(["chown", "-R", f"{pw.pw_uid}:{pw.pw_gid}", str(path)], check=True)
    os.chmod(root, 0o700)
    return root


def default_subdomain_host(ip, port):
    """``http://hub.localhost:PORT`` on a loopback address (browsers resolve ``*.localhost`` here), else ''."""
    return f"http://hub.localhost:{port}" if ip in ("127.0.0.1", "localhost", "::1") else ""


def check_machine():
    """Root, configurable-http-proxy on PATH, JupyterHub importable; else HubError."""
    if os.geteuid() != 0:
        raise HubError("the hub must run as root (each user's server is started as that user): sudo course hub ...")
    if shutil.which("configurable-http-proxy") is None:
        raise HubError("configurable-http-proxy is not on PATH: npm install -g configurable-http-proxy")
    try:
        import jupyterhub  # noqa: F401
    except ImportError:
        raise HubError(f"JupyterHub is not installed in this Python: {extras.install_command('hub')}") from None


def hub_command(settings):
    """The ``jupyterhub`` command line (run in ``settings.state``)."""
    return [sys.executable, "-m", "jupyterhub", "-f", str(DEPLOY / "jupyterhub_config.py")]


def hub_env(settings):
    env = dict(os.environ, **settings.env())
    bindir = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join([bindir, *[p for p in env.get("PATH", "").split(os.pathsep) if p]])
    return env


def prepare(settings, source=None):
    """Everything before the hub starts: checks, the exchange, the state folder, the instructors' courses."""
    check_machine()
    if not settings.instructors:
        raise HubError("name at least one instructor account: course hub --instructor NAME")
    check_accounts(settings.instructors + settings.students)
    prepare_exchange(settings.exchange, settings.course_id, settings.instructors[0])  # the first owns the course
    state = Path(settings.state)
    state.mkdir(parents=True, exist_ok=True)
    os.chmod(state, 0o700)  # the hub's database, cookie secret and proxy token
    return [prepare_instructor(name, settings, source) for name in settings.instructors]


def start(settings, **popen):
    """Start the hub (after :func:`prepare`); returns the Popen of ``jupyterhub``."""
    return subprocess.Popen(hub_command(settings), cwd=settings.state, env=hub_env(settings), **popen)


def run_hub(settings, source=None):
    """``course hub``: prepare, then run the hub in the foreground until Ctrl-C; returns the exit status."""
    try:
        courses = prepare(settings, source)
    except HubError as e:
        print(f"course hub: {e}", file=sys.stderr)
        return 2
    for name, root in zip(settings.instructors, courses):
        print(f"course hub: {name}'s course directory: {root}")
    print(f"course hub: exchange {settings.exchange}; hub state {settings.state}")
    url = settings.subdomain_host or f"http://{settings.ip}:{settings.port}"
    print(f"course hub: open {url}/hub/login (instructors: {', '.join(settings.instructors)})", flush=True)
    # The hub in a session of its own: a terminal's Ctrl-C reaches this process only, which asks the
    # hub once to stop (a second signal would interrupt its clean-up half-way: servers left running).
    proc = start(settings, start_new_session=True)
    stopping = []

    def stop(*_):
        if not stopping:
            print("\ncourse hub: stopping every user's server, then the hub ...", file=sys.stderr, flush=True)
            proc.send_signal(signal.SIGTERM)
        stopping.append(1)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    code = proc.wait()
    if stopping:
        print("course hub: stopped", file=sys.stderr)
        return 0
    return code
