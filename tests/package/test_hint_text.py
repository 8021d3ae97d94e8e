"""The hints read as sentences (issue 20, item 3): every message template of the checks, rendered with
example values, has no doubled word ("the the"), no article before another ("on the a score"), no
empty slot and no stray space before punctuation.

The templates are read from the source (course/checks/*.py and course/testing.py, whose helpers
the checks call): every string literal and f-string of three words or more that is not a docstring.
An f-string's slots take the values the code gives them where the source shows them: the literal
strings a loop runs over or a name is assigned in the same function (``for w, b, expected, gate in
[...]``), and the literal arguments that calls anywhere in those files pass to the function's
parameter of that name (``assert_shape(name, "the prediction", ...)`` gives ``what`` in
``f"{name}: {what} has shape ..."``); other slots take a neutral word.
"""

import ast
import re
from pathlib import Path

import pytest

from helpers import ROOT, docstring_ids

SOURCES = sorted((ROOT / "course" / "checks").glob("*.py")) + [ROOT / "course" / "testing.py"]
NEUTRAL = "x{}"  # a slot whose values the source does not show: a word that joins no article (x0, x1...)
NUMBER = "1.5e-03"  # a slot with a format spec ({err:.2e}, {acc:.0%}...)


def _parents(tree):
    parent = {}
    for node in ast.walk(tree):
        for child in ast.iter_child_nodes(node):
            parent[id(child)] = node
    return parent


def _literals(node):
    """The strings an expression is known to be: a literal, or either branch of ``a if c else b``."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.IfExp):
        return _literals(node.body) + _literals(node.orelse)
    return []


def _bind_target(target, value, bindings):
    if isinstance(target, ast.Name):
        bindings.setdefault(target.id, []).extend(_literals(value))
    elif isinstance(target, (ast.Tuple, ast.List)) and isinstance(value, (ast.Tuple, ast.List)):
        for t, v in zip(target.elts, value.elts):
            _bind_target(t, v, bindings)


def _local_bindings(function):
    """name -> literal strings that loops over literal lists, and assignments, give it in ``function``."""
    bindings = {}
    for node in ast.walk(function):
        if isinstance(node, (ast.For, ast.comprehension)) and isinstance(node.iter, (ast.List, ast.Tuple)):
            for item in node.iter.elts:
                _bind_target(node.target, item, bindings)
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                _bind_target(target, node.value, bindings)
    return bindings


def _functions(trees):
    return {f.name: f for tree in trees for f in ast.walk(tree) if isinstance(f, ast.FunctionDef)}


def _call_site_values(trees, functions):
    """(function name, parameter name) -> the literal strings calls pass to it, in all the files."""
    values = {}
    for tree in trees:
        for call in ast.walk(tree):
            if not isinstance(call, ast.Call):
                continue
            callee = call.func.id if isinstance(call.func, ast.Name) else getattr(call.func, "attr", None)
            if callee not in functions:
                continue
            params = [a.arg for a in functions[callee].args.args]
            pairs = list(zip(params, call.args)) + [(k.arg, k.value) for k in call.keywords if k.arg]
            for param, arg in pairs:
                values.setdefault((callee, param), []).extend(_literals(arg))
    for name, f in functions.items():  # defaults count as passed values
        args = f.args.args
        for a, d in zip(args[len(args) - len(f.args.defaults) :], f.args.defaults):
            values.setdefault((name, a.arg), []).extend(_literals(d))
    return values


def _renderings(node, slot_values):
    """The f-string ``node`` rendered once per known value of each slot (the other slots at their first)."""
    parts = []
    for k, value in enumerate(node.values):
        if isinstance(value, ast.Constant):
            parts.append([value.value])
        elif value.format_spec is not None:
            parts.append([NUMBER])
        else:
            known = slot_values(value.value)
            parts.append(list(dict.fromkeys(known)) or [NEUTRAL.format(k)])
    texts = {"".join(p[0] for p in parts)}
    for i, options in enumerate(parts):
        for option in options[1:]:
            texts.add("".join(option if j == i else p[0] for j, p in enumerate(parts)))
    return sorted(texts)


def _enclosing_function(node, parent):
    while id(node) in parent and not isinstance(node, ast.FunctionDef):
        node = parent[id(node)]
    return node if isinstance(node, ast.FunctionDef) else None


def _file_templates(path, tree, passed):
    """(file:line, rendered text) of every string of one file (f-strings once per example value)."""
    docs, parent, bindings_of, found = docstring_ids(tree), _parents(tree), {}, []
    for node in ast.walk(tree):
        where = f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs:
            if not isinstance(parent.get(id(node)), ast.JoinedStr):  # a piece of an f-string: rendered with it
                found.append((where, node.value))
        elif isinstance(node, ast.JoinedStr):
            function = _enclosing_function(node, parent)
            if function is not None and id(function) not in bindings_of:
                bindings_of[id(function)] = _local_bindings(function)
            local = bindings_of.get(id(function), {})

            def slot_values(expr, function=function, local=local):
                if not isinstance(expr, ast.Name):
                    return []
                return local.get(expr.id, []) + (passed.get((function.name, expr.id), []) if function else [])

            found += [(where, text) for text in _renderings(node, slot_values)]
    return found


def templates():
    """(file:line, rendered text) of every message template in SOURCES."""
    trees = {path: ast.parse(path.read_text(encoding="utf-8")) for path in SOURCES}
    passed = _call_site_values(trees.values(), _functions(trees.values()))
    found = [t for path, tree in trees.items() for t in _file_templates(path, tree, passed)]
    return [(where, text) for where, text in found if len(text.split()) >= 3]


TEMPLATES = templates()

# What does not read as a sentence, with what the rule looks for.
FLAWS = [
    ("a doubled word", re.compile(r"\b(?!\d)(\w+)\s+\1\b", re.I)),
    ("an article before another", re.compile(r"\b(a|an|the)\s+(a|an|the)\b", re.I)),
    ("an empty slot", re.compile(r"\{\}|\s\(\s*\)")),
    ("a space before punctuation", re.compile(r"\w\s+[,;]")),
    ("two spaces", re.compile(r"\S  +\S")),
]


def test_the_templates_are_found():
    texts = [text for _, text in TEMPLATES]
    assert len(texts) > 200, f"only {len(texts)} templates read: has the layout of course/checks/ changed?"
    assert any("perceptron_predict" in t or "exactly 0" in t for t in texts)


def test_a_slot_takes_the_values_the_loop_gives_it():
    rendered = [text for where, text in TEMPLATES if "perceptron.py" in where]
    assert any("exactly 0 on (0,1) and (1,0)" in t and "w=" in t for t in rendered), rendered[:20]


@pytest.mark.parametrize("flaw, pattern", FLAWS, ids=[f for f, _ in FLAWS])
def test_every_hint_reads_as_a_sentence(flaw, pattern):
    bad = [f"{where}: {text!r} ({m.group(0)!r})" for where, text in TEMPLATES if (m := pattern.search(text))]
    assert not bad, f"{len(bad)} hint(s) with {flaw}; reword them:\n" + "\n".join(bad)


def test_the_known_bad_hint_is_gone():
    texts = " ".join(text for _, text in TEMPLATES)
    assert "the a score" not in texts


if __name__ == "__main__":  # read them all: python tests/package/test_hint_text.py
    for where, text in TEMPLATES:
        print(f"{where}: {text}")
    print(Path(__file__).name, len(TEMPLATES), "templates")
