"""nbgrader's configuration for every account of the hub (as /etc/jupyter/nbgrader_config.py would be).

The exchange is shared by all accounts (``COURSE_HUB_EXCHANGE``, by default /srv/nbgrader/exchange,
mode 1777); each course has its own folder in it (``path_includes_course``) and JupyterHub's groups
say who is in which course (``formgrade-<course>``: instructors, ``nbgrader-<course>``: students).
An instructor's own ``~/.jupyter/nbgrader_config.py`` names their course directory and course id.
"""

import os

from nbgrader.auth import JupyterHubAuthPlugin

c = get_config()  # noqa: F821
c.Exchange.root = os.environ.get("COURSE_HUB_EXCHANGE", "/srv/nbgrader/exchange")
c.Exchange.path_includes_course = True
c.Authenticator.plugin_class = JupyterHubAuthPlugin
# `nbgrader collect` and the formgrader's: only what the named student's account wrote, at the time the
# file system recorded (course/instructor/exchange.py; deploy/jupyterhub/README.md, "Decisions").
c.ExchangeFactory.collect = "course.instructor.exchange.AuthenticatedCollect"
