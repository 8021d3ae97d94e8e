"""Every user's Jupyter server on the hub.

The formgrader is shown inside JupyterLab in an iframe. JupyterHub >= 4.1 forbids every frame
(``frame-ancestors 'none'``), which leaves that panel blank (nbgrader #1870). Where each user is
served from a subdomain of their own (``course hub`` sets ``COURSE_HUB_FRAME_SELF``), a server's
pages may frame its own pages and nobody else's: the setting nbgrader documents as secure.
Without subdomains the hub's default stays (open the formgrader in a browser tab instead).

Terminals run bash with ``terminal.bashrc`` (beside this file), not Jupyter's default login shell:
Debian's /etc/profile resets ``PATH``, and ``course``, ``nbgrader`` and ``python`` of the course's
environment (the folder of the Python running this server) would not be found.
"""

import os
import shutil
import sys

c = get_config()  # noqa: F821
if os.environ.get("COURSE_HUB_FRAME_SELF"):
    c.ServerApp.tornado_settings = {"headers": {"Content-Security-Policy": "frame-ancestors 'self'"}}
os.environ["COURSE_HUB_BIN"] = os.path.dirname(sys.executable)  # inherited by the terminals
if shutil.which("bash"):
    RC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "terminal.bashrc")
    c.ServerApp.terminado_settings = {"shell_command": [shutil.which("bash"), "--rcfile", RC, "-i"]}
# The course works offline: no news feed, no check for updates.
c.LabApp.news_url = None
c.LabApp.check_for_updates_class = "jupyterlab.NeverCheckForUpdate"
