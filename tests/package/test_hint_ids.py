"""Every hint a check can give has a stable id, defined once beside its text (issue 24, item 1).

The rule, read from the source of course/checks/*.py and course/testing.py (whose messages the
checks raise), with :mod:`course.checks.hints` as the mechanism:

1. **Every text a student can be shown is a hint.** Every string literal or f-string with at
   least :data:`LONG` literal characters is the text of a ``hint("unit.mistake", "...")`` call,
   unless it is a docstring, the argument of a parameter in :data:`FIELD_PARAMETERS` (a piece
   that fills a field of a message: which output, compared with what), or its lines or the
   line before say ``# not a hint: <why>`` (a verdict such as "does not match", a message for
   the instructor, a label). A message with runtime values is a template:
   ``X = hint("rnn.x", "... {name} ...")`` at module level, ``X.format(name=...)`` where it is
   raised. A text had better start with words of its own than with ``{name}: `` (identify
   reads a hint from its first literal part on).
2. **Every id has one text, and is used.** ``hint(...)`` is called at module level only (a
   constant, or a value of a module-level dict or list), with the id as a literal string of
   the form ``<module>.<mistake>`` where ``<module>`` is the file's name (``_common.py`` ->
   ``common``), each id in one call; and the name it is assigned to is read somewhere in
   course/ besides its definition (no dead hint).
3. **An id is recognised, and only it.** :func:`course.checks.hints.identify` finds each
   registered hint in its own text (fields filled with sample values), and no other hint
   there except those its text contains: the ids recorded from a message are unambiguous.

A hint's text must also have words of its own (``hints.MIN_LITERAL``); :func:`hint` refuses one
that has not.
"""

import ast
import re
import string

import pytest

from course.checks.hints import ID_FORMAT, REGISTRY, all_hints, identify

from helpers import ROOT, docstring_ids

SOURCES = sorted(p for p in (ROOT / "course" / "checks").glob("*.py") if p.name != "hints.py") + [
    ROOT / "course" / "testing.py"
]
#: A string with this many literal characters (an f-string's without its slots) is a message.
LONG = 40
#: Parameters whose argument fills a field of a message rather than being one: which output a
#: check compares (``what``), with what (``reference``), where a working forward comes from (``where``).
FIELD_PARAMETERS = ("what", "reference", "where")
#: The comment that says a long string on its line (or the next) is not a hint, and why.
NOT_A_HINT = re.compile(r"#\s*not a hint:\s*\S")


def _module_of(path):
    return path.stem.lstrip("_")


def _parse():
    return {path: ast.parse(path.read_text(encoding="utf-8")) for path in SOURCES}


TREES = _parse()


def _literal_length(node):
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return len(node.value)
    if isinstance(node, ast.JoinedStr):
        return sum(len(v.value) for v in node.values if isinstance(v, ast.Constant))
    return None


def _is_hint_call(node):
    """``hint(id, text)`` (a one-argument ``hint()`` in _common is a check's callback, not a definition)."""
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "hint"
        and len(node.args) == 2
    )


def _parameters():
    """function name -> its positional parameters' names, over every source file."""
    return {
        f.name: [a.arg for a in f.args.args]
        for tree in TREES.values()
        for f in ast.walk(tree)
        if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
    }


def _field_arguments(tree, parameters):
    """ids of the nodes passed to (or defaulting) a parameter of FIELD_PARAMETERS."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            callee = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", None)
            names = parameters.get(callee, [])
            pairs = list(zip(names, node.args)) + [(k.arg, k.value) for k in node.keywords]
            found |= {id(arg) for param, arg in pairs if param in FIELD_PARAMETERS}
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            args = node.args.args
            for a, default in zip(args[len(args) - len(node.args.defaults) :], node.args.defaults):
                if a.arg in FIELD_PARAMETERS:
                    found.add(id(default))
    return found


def _unnamed_messages():
    """file:line and the start of every long string that rule 1 finds outside a hint."""
    parameters, found = _parameters(), []
    for path, tree in TREES.items():
        lines = path.read_text(encoding="utf-8").splitlines()
        skip = docstring_ids(tree) | _field_arguments(tree, parameters)
        for node in ast.walk(tree):
            if _is_hint_call(node):
                skip |= {id(n) for n in ast.walk(node)}
            elif isinstance(node, ast.JoinedStr):
                skip |= {id(v) for v in node.values}  # its pieces are counted with it
        for node in ast.walk(tree):
            length = _literal_length(node)
            if length is None or length < LONG or id(node) in skip:
                continue
            if any(NOT_A_HINT.search(line) for line in lines[node.lineno - 2 : node.end_lineno]):
                continue
            found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {ast.unparse(node)[:90]}")
    return found


def _hint_calls():
    """(path, call node, at module level?) of every ``hint(...)`` call in the sources."""
    found = []
    for path, tree in TREES.items():
        top = set()
        for statement in tree.body:
            if not isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                top |= {id(n) for n in ast.walk(statement)}
        found += [(path, n, id(n) in top) for n in ast.walk(tree) if _is_hint_call(n)]
    return found


HINT_CALLS = _hint_calls()


def _sample(h):
    """The text of hint ``h`` with each field filled by a sample value."""
    return "".join(
        literal.replace("{{", "{").replace("}}", "}") + ("" if field is None else f"<{field}>")
        for literal, field, _, _ in string.Formatter().parse(h)
    )


# ---------------------------------------------------------------- 1. every message is a hint
def test_the_sources_are_read():
    assert len(SOURCES) >= 14, [p.name for p in SOURCES]
    assert len(HINT_CALLS) > 100, f"only {len(HINT_CALLS)} hint(...) calls in course/checks: are they read?"


def test_every_message_a_student_can_read_is_a_hint():
    unnamed = _unnamed_messages()
    assert not unnamed, (
        f"{len(unnamed)} message(s) of {LONG}+ characters with no id: define each once at module level as "
        'NAME = hint("unit.mistake", "text with {fields}") and raise NAME.format(...) (or mark the line '
        "`# not a hint: why` when no student reads it):\n" + "\n".join(unnamed)
    )


# ---------------------------------------------------------------- 2. one text per id, each used
def test_hints_are_defined_at_module_level_with_a_literal_id():
    bad = [
        f"{path.relative_to(ROOT)}:{call.lineno}"
        for path, call, top in HINT_CALLS
        if not top or not call.args or not isinstance(call.args[0], ast.Constant)
    ]
    assert not bad, "define these hints at module level, with the id as a literal string:\n" + "\n".join(bad)


def test_an_id_is_unit_dot_mistake_named_after_its_module():
    bad = []
    for path, call, _ in HINT_CALLS:
        hint_id = getattr(call.args[0], "value", None) if call.args else None
        if (
            not isinstance(hint_id, str)
            or not ID_FORMAT.fullmatch(hint_id)
            or hint_id.split(".")[0] != _module_of(path)
        ):
            bad.append(f"{path.relative_to(ROOT)}:{call.lineno}: {hint_id!r}")
    assert not bad, "name each hint <module>.<mistake> after the file it is in:\n" + "\n".join(bad)


def test_each_id_is_defined_once():
    seen = {}
    for path, call, _ in HINT_CALLS:
        if call.args and isinstance(call.args[0], ast.Constant):
            seen.setdefault(call.args[0].value, []).append(f"{path.relative_to(ROOT)}:{call.lineno}")
    twice = {i: places for i, places in seen.items() if len(places) > 1}
    assert not twice, f"ids defined more than once (give each mistake its own id): {twice}"


def test_every_registered_hint_has_a_text_and_a_defining_call():
    hints = all_hints()
    defined = {call.args[0].value for _, call, _ in HINT_CALLS if call.args and isinstance(call.args[0], ast.Constant)}
    assert not [i for i, h in hints.items() if not str(h).strip()], "hints with an empty text"
    assert set(hints) == defined, (
        f"registered but not found in the sources: {sorted(set(hints) - defined)}; "
        f"in the sources but not registered: {sorted(defined - set(hints))}"
    )


def _names_read():
    """Every name and attribute read anywhere in course/ (a hint's constant is used where it is read)."""
    read = set()
    for path in (ROOT / "course").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
                read.add(node.id)
            elif isinstance(node, ast.Attribute):
                read.add(node.attr)
            elif isinstance(node, ast.alias):
                read.add(node.asname or node.name)
    return read


def test_no_hint_is_dead():
    read, dead = _names_read(), []
    for path, tree in TREES.items():
        for statement in tree.body:
            if not isinstance(statement, (ast.Assign, ast.AnnAssign)):
                continue
            ids = [c.args[0].value for c in ast.walk(statement) if _is_hint_call(c) and c.args]
            targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
            names = {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
            if ids and not names & read:
                dead += [f"{path.relative_to(ROOT)}:{statement.lineno}: {i} ({', '.join(sorted(names))})" for i in ids]
    assert not dead, "hints that no check gives (use them or delete them):\n" + "\n".join(dead)


# ---------------------------------------------------------------- 3. identify is unambiguous
@pytest.mark.parametrize("hint_id", sorted(all_hints()))
def test_identify_finds_the_hint_in_its_own_text_and_no_other(hint_id):
    text = _sample(REGISTRY[hint_id])
    found = identify(f"some_function: a message\n  hint: {text}")
    assert found == [hint_id], (
        f"identify() reads {found} in the text of {hint_id}: {text!r}; "
        "give each hint words that no other hint's text has in the same order (a text that two units "
        "share is one hint, in _common.py)"
    )


def test_identify_finds_a_hint_in_a_real_message():
    """The sample above is not all: a hint reached through a check's message is recognised too."""
    from course.testing import NOT_IMPLEMENTED

    assert getattr(NOT_IMPLEMENTED, "id", None) in identify(f"rnn_forward: {NOT_IMPLEMENTED}")
