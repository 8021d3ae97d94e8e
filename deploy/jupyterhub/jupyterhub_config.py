"""JupyterHub for the course on one machine: real Unix accounts, nbgrader's exchange, one course or more.

Started by ``course hub`` (course/hub.py), which sets the ``COURSE_HUB_*`` variables read here
(see ``course.hub.HubSettings``); by hand: ``COURSE_HUB_INSTRUCTORS=teacher COURSE_HUB_STUDENTS=a,b
jupyterhub -f deploy/jupyterhub/jupyterhub_config.py`` as root, in the hub's state folder.

* Login: PAM, so each account's own password; only the named instructors and students.
* Servers: ``LocalProcessSpawner``, each user's server runs as that account, from their home,
  with the users' Jupyter configuration of ``etc-jupyter/`` (nbgrader's exchange and
  multi-course settings, the formgrader's frame policy, JupyterLab without its news pop-up),
  in the private view of ``course.hub.user_view`` (the course checkout's solutions never appear).
* nbgrader's groups: ``formgrade-<course>`` (instructors) and ``nbgrader-<course>`` (students):
  the ``JupyterHubAuthPlugin`` of each server asks the hub which courses its user is in, so the
  server's token may read its own user's groups; instructors may also add students to their
  course's group (the formgrader does it when they add a student).
* With ``COURSE_HUB_SUBDOMAIN_HOST`` each user is served from a subdomain of their own, the
  only setting in which the formgrader's iframe may be allowed safely (nbgrader #1870).
"""

import os
import sys

from jupyterhub.spawner import LocalProcessSpawner

from course import hub as course_hub

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
c.JupyterHub.authenticator_class = "pam"
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
    """LocalProcessSpawner whose servers start in the course's private view (``course.hub.user_view``)."""

    def make_preexec_fn(self, name):
        return course_hub.as_user(name, VIEW)


c.JupyterHub.spawner_class = CourseSpawner
c.Spawner.cmd = [sys.executable, "-m", "jupyterhub.singleuser"]
c.Spawner.default_url = "/lab"
c.Spawner.notebook_dir = "~"
c.Spawner.environment = {
    "PATH": os.pathsep.join([os.path.dirname(sys.executable), "/usr/local/bin", "/usr/bin", "/bin"]),
    "JUPYTER_CONFIG_PATH": str(course_hub.USER_CONFIG),
    "COURSE_HUB_EXCHANGE": s.exchange,
    "COURSE_HUB_FRAME_SELF": "1" if s.subdomain_host else "",
    "OMP_NUM_THREADS": "1",
}
c.Spawner.start_timeout = 180  # a class logging in at once on a small machine
c.Spawner.http_timeout = 120
c.JupyterHub.shutdown_on_logout = False
c.JupyterHub.cleanup_servers = True  # stopping the hub stops every server
