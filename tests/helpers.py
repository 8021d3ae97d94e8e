"""What the tests share besides fixtures: the course's root, the environment's programs, the hint tables.

Tests import these from here (``from helpers import ROOT``), never from ``conftest``: pytest loads
every ``conftest.py`` under the module name ``conftest`` (lectures/ has one too), so which one
``from helpers import`` finds depends on the order of collection.
"""

import ast
import json
import sys
import zipfile
from pathlib import Path

import pytest

from course.checks.hints import identify

ROOT = Path(__file__).resolve().parent.parent


def docstring_ids(tree):
    """The ``id()`` of each docstring's constant node in the AST ``tree`` (module, class, function)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def dump(obj):
    """``obj`` as indented JSON for a failing assertion's message (a grading Result by its JSON form)."""
    return json.dumps(obj, indent=1, default=lambda o: o.to_dict() if hasattr(o, "to_dict") else str(o))


def bin_path(name):
    """An executable of the environment running the tests (course, nbgrader, ...)."""
    return str(Path(sys.executable).parent / name)


def make_zip(path, entries):
    """A zip archive at ``path`` (returned) of ``entries``, as a class's archive from an LMS would be:
    ``(name, data)`` pairs, or ``(name, data, mode)`` with ``mode`` an ``st_mode`` in the entry's
    attributes (``stat.S_IFLNK | 0o777``: a symbolic link to ``data``); ``name`` may be a
    :class:`zipfile.ZipInfo` (to give the entry's date)."""
    with zipfile.ZipFile(path, "w") as z:
        for name, data, *mode in entries:
            if mode:
                name = name if isinstance(name, zipfile.ZipInfo) else zipfile.ZipInfo(name)
                name.external_attr = mode[0] << 16
            z.writestr(name, data)
    return path


# ---------------------------------------------------------------- the hint tables (tests/package/test_hints_*.py)
def with_bug(fn, bug):
    """``fn`` with its keyword ``bug`` set: one row of a table of wrong implementations. It keeps
    ``fn``'s name, which the checks quote ("your lstm_forward is wrong")."""

    def buggy(*args, **kwargs):
        return fn(*args, **kwargs, bug=bug)

    buggy.__name__ = fn.__name__
    return buggy


def hint_of(check, *fns, **kwargs):
    """The message of the AssertionError that ``check(*fns, **kwargs)`` must raise."""
    with pytest.raises(AssertionError) as e:
        check(*fns, **kwargs)
    return str(e.value)


def hint_ids_of(check, *fns, **kwargs):
    """The message of :func:`hint_of` and the ids of the hints in it (what the grader records):
    ``(message, ids)``, so that a failing assertion can show the message."""
    message = hint_of(check, *fns, **kwargs)
    return message, identify(message)
