"""JupyterHub for the course on one machine: real Unix accounts, nbgrader's exchange, one course or more.

Started by ``course hub`` (course/programs/hub.py), which sets the ``COURSE_HUB_*`` variables read here
(see ``course.programs.hub.HubSettings``); by hand: ``COURSE_HUB_INSTRUCTORS=teacher COURSE_HUB_STUDENTS=a,b
jupyterhub -f deploy/jupyterhub/jupyterhub_config.py`` as root, in the hub's state folder.

* Login: PAM, so each account's own password; only the named instructors and students. With
  subdomains, a login page reached at another address of the hub (``http://127.0.0.1:PORT``, which
  JupyterHub's log prints) redirects to the subdomain host: the login cookie of another address
  would not reach the users' subdomains, and the login would end on a second login page.
* Servers: ``LocalProcessSpawner``, each user's server runs as that account, from their home,
  with the users' Jupyter configuration of ``etc-jupyter/`` (nbgrader's exchange and
  multi-course settings, the formgrader's frame policy, terminals that find the course's
  commands, JupyterLab without its news pop-up), and for students ``etc-jupyter/student/`` above
  it (no instructor tools); in the private view of ``course.programs.hub.user_view`` (the course
  checkout's solutions never appear). A student's server first copies the lectures into their
  home and writes a landing ``README.md``, which it opens (``course.programs.hub_server``).
* nbgrader's groups: ``formgrade-<course>`` (instructors) and ``nbgrader-<course>`` (students):
  the ``JupyterHubAuthPlugin`` of each server asks the hub which courses its user is in, so the
  server's token may read its own user's groups; instructors may also add students to their
  course's group (the formgrader does it when they add a student).
* With ``COURSE_HUB_SUBDOMAIN_HOST`` each user is served from a subdomain of their own, the
  only setting in which the formgrader's iframe may be allowed safely (nbgrader #1870).
"""

import os
import sys
from urllib.parse import urlparse

from jupyterhub.auth import PAMAuthenticator
from jupyterhub.handlers.login import LoginHandler
from jupyterhub.spawner import LocalProcessSpawner

from course.programs import hub as course_hub

c = get_config()  # noqa: F821  (injected by traitlets)
s = course_hub.HubSettings.from_env()
cid = s.course_id

# -- network: the public proxy, the hub behind it, the proxy's API; nothing else listens
c.JupyterHub.ip = s.ip
c.JupyterHub.port = s.port
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = s.hub_port
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{s.proxy_api_port}"
if s.subdomain_host:
    c.JupyterHub.subdomain_host = s.subdomain_host

# -- the hub's own state (a folder only root can read: database, cookie secret, proxy's pid)
c.JupyterHub.db_url = "sqlite:///" + os.path.join(s.state, "jupyterhub.sqlite")
c.JupyterHub.cookie_secret_file = os.path.join(s.state, "jupyterhub_cookie_secret")
c.ConfigurableHTTPProxy.pid_file = os.path.join(s.state, "jupyterhub-proxy.pid")

# -- who may log in
PUBLIC_HOST = urlparse(s.subdomain_host).netloc  # e.g. hub.localhost:8000; "" without subdomains


class OneAddressLoginHandler(LoginHandler):
    """The login page, only at the subdomain host: any other address of the hub redirects there."""

    async def prepare(self):
        if PUBLIC_HOST and self.request.host != PUBLIC_HOST:
            return self.redirect(s.subdomain_host + self.request.uri)
        return await super().prepare()


class CoursePAMAuthenticator(PAMAuthenticator):
    def get_handlers(self, app):
        return [(url, OneAddressLoginHandler if h is LoginHandler else h) for url, h in super().get_handlers(app)]


c.JupyterHub.authenticator_class = CoursePAMAuthenticator
c.PAMAuthenticator.open_sessions = False  # no login session per server (systemd-logind need not run)
c.Authenticator.allowed_users = set(s.instructors) | set(s.students)
c.Authenticator.admin_users = set()  # nobody administers the hub from the browser
c.JupyterHub.load_groups = {
    f"formgrade-{cid}": {"users": list(s.instructors)},
    f"nbgrader-{cid}": {"users": list(s.students)},
}
c.JupyterHub.load_roles = [
    {
        "name": f"instructor-{cid}",
        "description": f"add students to course {cid} (nbgrader's formgrader does it)",
        "scopes": ["list:groups", f"groups!group=nbgrader-{cid}", f"read:users:groups!group=nbgrader-{cid}"],
        "groups": [f"formgrade-{cid}"],
    }
]
# A server's API token: its activity, its own name and groups (JupyterHubAuthPlugin), and for
# instructors the course group's membership; each token gets only the part its user holds.
c.Spawner.server_token_scopes = [
    "users:activity!user",
    "access:servers!server",
    "read:users:name!user",
    "read:users:groups!user",
    "list:groups",
    f"groups!group=nbgrader-{cid}",
    f"read:users:groups!group=nbgrader-{cid}",
]

# -- each user's server, as that user
VIEW = course_hub.user_view()


class CourseSpawner(LocalProcessSpawner):
    """LocalProcessSpawner whose servers start in the course's private view (``course.programs.hub.user_view``)."""

    def make_preexec_fn(self, name):
        return course_hub.as_user(name, VIEW)


def by_role(spawner):
    """Before a server starts: its role's configuration; a student's opens the landing page."""
    spawner.environment = {**spawner.environment, **course_hub.role_env(spawner.user.name, s)}  # a copy per user
    if spawner.user.name not in s.instructors:
        spawner.default_url = "/lab/tree/README.md"


c.JupyterHub.spawner_class = CourseSpawner
c.Spawner.cmd = [sys.executable, "-m", "course.programs.hub_server"]  # the lectures' copy, then jupyterhub.singleuser
c.Spawner.pre_spawn_hook = by_role
c.Spawner.default_url = "/lab"
c.Spawner.notebook_dir = "~"
c.Spawner.environment = {
    "PATH": os.pathsep.join([os.path.dirname(sys.executable), "/usr/local/bin", "/usr/bin", "/bin"]),
    "JUPYTER_PATH": str(course_hub.USER_DATA),  # the hub's JupyterLab plugin
    "COURSE_HUB_EXCHANGE": s.exchange,
    "COURSE_HUB_FRAME_SELF": "1" if s.subdomain_host else "",
    "OMP_NUM_THREADS": "1",
}
c.Spawner.start_timeout = 180  # a class logging in at once on a small machine
c.Spawner.http_timeout = 120
c.JupyterHub.shutdown_on_logout = False
c.JupyterHub.cleanup_servers = True  # stopping the hub stops every server
