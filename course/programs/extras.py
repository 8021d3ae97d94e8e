"""The course's install profiles (``pyproject.toml``'s extras) as the ``course`` command meets them.

``pip install -e .`` is the student's course (units 1-8 and ``course lab``); the commands that need
more name their extra here (:data:`COMMANDS`), and the modules each extra brings (:data:`MODULES`,
checked against ``pyproject.toml`` by ``tests/project/test_packaging.py``). A command whose extra is not
installed says so in one line, :func:`missing` before it starts and :func:`explain` for a
``ModuleNotFoundError`` raised while it runs (``course.programs.cli.main`` calls both)::

    course grade: grading needs the grader's tools (dask is not installed): pip install -e ".[grader]"
"""

import importlib.util

#: The top-level modules each extra installs, with those of the extras it includes (as in pyproject.toml).
#: The base has nbgrader (course lab's Validate button) and, until the checks of units 1-8 need none, torch.
MODULES = {"torch": ("torch", "pandas", "sklearn", "statsmodels")}  # units 9-10
MODULES["grader"] = (*MODULES["torch"], "nbgrader", "dask", "distributed", "cryptography", "psycopg", "copydetect")
MODULES["hub"] = (*MODULES["grader"], "jupyterhub")  # instructors grade on the hub (the formgrader)
MODULES["site"] = (*MODULES["torch"], "latex2mathml")  # the website executes every lecture

#: What each extra brings, as its one line says it.
WHAT = {
    "grader": "the grader's tools",
    "hub": "JupyterHub and the grader's tools",
    "site": "torch and latex2mathml",
}
#: command -> (extra, what needs it); the commands not named here run on the student's course.
COMMANDS = {
    "grade": ("grader", "grading"),
    "collect": ("grader", "collecting"),
    "autograde": ("grader", "grading"),
    "feedback": ("grader", "feedback"),
    "grades": ("grader", "the gradebook"),
    "report": ("grader", "the report"),
    "similarity": ("grader", "the comparison"),
    "hub": ("hub", "the hub"),
    "site": ("site", "the website (every lecture executed)"),
}


def install_command(extra):
    """What to run for ``extra``: ``pip install -e ".[grader]"``."""
    return f'pip install -e ".[{extra}]"'


def _line(command, missing_module):
    extra, what = COMMANDS[command]
    return f"course {command}: {what} needs {WHAT[extra]} ({missing_module} is not installed): " + install_command(
        extra
    )


def missing(command):
    """One line naming the extra to install when a module of ``command``'s extra cannot be found; else None."""
    if command not in COMMANDS:
        return None
    for name in MODULES[COMMANDS[command][0]]:
        try:
            found = importlib.util.find_spec(name) is not None
        except ValueError:  # imported already, without a spec: there
            found = True
        if not found:
            return _line(command, name)
    return None


def explain(command, error):
    """The same line for a ModuleNotFoundError ``command`` raised while running, if the module is one of
    its extra's; None for any other (a broken installation, a bug: its traceback is the report)."""
    top = (getattr(error, "name", None) or "").partition(".")[0]
    if command in COMMANDS and top in MODULES[COMMANDS[command][0]]:
        return _line(command, top)
    return None
