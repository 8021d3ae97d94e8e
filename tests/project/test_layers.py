"""The course package's layers point one way: no import cycle, no private name across modules.

The three parts, from the bottom: what notebooks import (``course`` and its flat modules,
``course.checks``, ``course.datasets``), the engine (``course.grading``: a notebook in, a result
out), the instructor's part (``course.instructor``); the programs around them
(``course.programs``) sit on top. A layer never imports one above it.

Read from the source (``ast``), not by importing. An import inside a function counts as much as
one at the top: it is a dependency all the same, only resolved later (which is how a cycle hides).
"""

import ast
from pathlib import Path

COURSE = Path(__file__).resolve().parents[2] / "course"

INSTRUCTOR, PROGRAMS, GRADING = "course.instructor", "course.programs", "course.grading"

#: Cycles known and left for a bigger change (issue 22), each with why. Empty: keep it so.
KNOWN_CYCLES = []

#: Private names taken from another module, known and left to their owners (issue 22), each with why:
#: "importer: module.name", or "package.*" for the names its own modules share. Empty it as they are
#: made public or moved; never add to it.
KNOWN_PRIVATE_IMPORTS = {
    "course.grading.verify.*": "the verifier's modules (split from one file) share their helpers; name its API",
}


def _module_name(path):
    parts = list(path.relative_to(COURSE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules():
    """{module name: path} of every module of the course package."""
    return {_module_name(p): p for p in sorted(COURSE.rglob("*.py")) if "__pycache__" not in p.parts}


def _imports(name, path, modules):
    """[(imported course module, at module level?)] of one module's import statements."""
    is_package = path.name == "__init__.py"
    found = []

    def visit(node, top):
        for child in ast.iter_child_nodes(node):
            inner = top and not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.Import):
                found.extend((alias.name, inner) for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:  # relative: from the module's package
                    package = name.split(".") if is_package else name.split(".")[:-1]
                    package = package[: len(package) - (child.level - 1)]
                    base = ".".join([*package, base] if base else package)
                for alias in child.names:
                    # `from pkg import sub` imports the submodule; `from mod import name` the module
                    sub = f"{base}.{alias.name}"
                    found.append((sub if sub in modules else base, inner))
            visit(child, inner)

    visit(ast.parse(path.read_text(encoding="utf-8"), str(path)), True)
    return [(target, top) for target, top in found if target == "course" or target.startswith("course.")]


def _graph():
    """{module: [course modules it imports, at the top or in a function]}."""
    modules = _modules()
    graph = {}
    for name, path in modules.items():
        targets = {t for t, _ in _imports(name, path, modules)}
        graph[name] = sorted(t for t in targets if t in modules and t != name)
    return graph


def _in(module, part):
    return module == part or module.startswith(part + ".")


def _reaching(importers, forbidden):
    """["X imports Y"] for every module X that ``importers(X)`` selects and Y in a ``forbidden`` part."""
    modules = _modules()
    return [
        f"{name} imports {target}" + ("" if top else " (inside a function)")
        for name, path in modules.items()
        if importers(name)
        for target, top in _imports(name, path, modules)
        if any(_in(target, part) for part in forbidden)
    ]


def _private(name):
    return name.startswith("_") and not name.startswith("__")


def _private_uses(name, source, modules):
    """["importer: module.name"] of the private names ``name`` takes from other course modules.

    A private name is ``_x``: imported (``from m import _x``) or reached through a module imported
    whole (``m._x``). A private *module* (``pkg._x``) is private to its package: the package's own
    modules may import it (``course.checks._common``, the checks' shared helpers), no other module.
    """
    package = name if source.endswith("__init__.py") else name.rpartition(".")[0]
    found, bound = [], {}
    tree = ast.parse(Path(source).read_text(encoding="utf-8"), source)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname and alias.name in modules:
                    bound[alias.asname] = alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parts = parts[: len(parts) - (node.level - 1)]
                base = ".".join([*parts, base] if base else parts)
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                if sub in modules:  # a module
                    bound[alias.asname or alias.name] = sub
                    if _private(alias.name) and not _in(name, base):
                        found.append(f"{name}: {sub}")
                elif base in modules and base != name and _private(alias.name):
                    found.append(f"{name}: {sub}")
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in bound:
            if _private(node.attr) and bound[node.value.id] != name:
                found.append(f"{name}: {bound[node.value.id]}.{node.attr}")
    return sorted(set(found))


def _cycles(graph):
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []

    def connect(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return sorted(out)


def test_the_detector_finds_a_cycle_and_a_clean_graph_has_none():
    assert _cycles({"a": ["b"], "b": ["c"], "c": ["a"], "d": ["a"]}) == [["a", "b", "c"]]
    assert _cycles({"a": ["b"], "b": ["c"], "c": []}) == []


def test_no_import_cycle_among_the_course_modules():
    cycles = [c for c in _cycles(_graph()) if c not in KNOWN_CYCLES]
    assert not cycles, (
        "these course modules import each other, at the top or in a function (move what both need to a lower "
        f"module, e.g. course.errors): {cycles}"
    )


def test_grading_imports_nothing_from_the_instructors_part_or_the_programs():
    reaching = _reaching(lambda name: _in(name, GRADING), (INSTRUCTOR, PROGRAMS))
    assert not reaching, (
        "course.grading is the engine below the instructor's part; it must not import it or the programs "
        f"(import from course.errors or a lower module instead): {reaching}"
    )


def test_the_instructors_part_imports_nothing_from_the_programs():
    reaching = _reaching(lambda name: _in(name, INSTRUCTOR), (PROGRAMS,))
    assert not reaching, (
        "course.instructor sits below the programs (cli, lab, site, hub); move what it needs from them "
        f"into course.instructor or lower: {reaching}"
    )


def test_what_notebooks_import_imports_neither_the_instructors_part_nor_the_programs():
    notebook_facing = lambda name: not any(_in(name, part) for part in (GRADING, INSTRUCTOR, PROGRAMS))  # noqa: E731
    reaching = _reaching(notebook_facing, (INSTRUCTOR, PROGRAMS))
    assert not reaching, (
        "the modules notebooks import (course, its flat modules, checks, datasets) are the bottom layer, "
        f"bound into every student's sandbox; they must not import the instructor's tools: {reaching}"
    )


def test_the_private_name_detector_finds_each_way_of_reaching_one(tmp_path):
    source = tmp_path / "m.py"
    source.write_text(
        "from course.a import _hidden, shown\nfrom course import a as alias\nfrom course.p import _shared\n"
        "import course.a as b\nalias._also\nb._too\nalias.fine\nalias.__name__\n"
    )
    modules = {"course.a", "course.p", "course.p._shared", "course.q.m"}
    assert _private_uses("course.q.m", str(source), modules) == [
        "course.q.m: course.a._also",
        "course.q.m: course.a._hidden",
        "course.q.m: course.a._too",
        "course.q.m: course.p._shared",
    ]
    assert _private_uses("course.p.m", str(source), modules) == [
        "course.p.m: course.a._also",
        "course.p.m: course.a._hidden",
        "course.p.m: course.a._too",
    ], "a package's own private module is its modules' to import"


def _known_private(use, known=KNOWN_PRIVATE_IMPORTS):
    importer, _, target = use.partition(": ")
    return use in known or any(k.endswith(".*") and _in(importer, k[:-2]) and _in(target, k[:-2]) for k in known)


def test_no_module_imports_a_private_name_from_another_module():
    modules = _modules()
    found = {use for name, path in modules.items() for use in _private_uses(name, str(path), modules)}
    new = sorted(use for use in found if not _known_private(use))
    assert not new, (
        "a name that starts with _ is its module's own; make it public (and document it) or move it to a "
        f"module both can import: {new}"
    )
    fixed = sorted(known for known in KNOWN_PRIVATE_IMPORTS if not any(_known_private(use, [known]) for use in found))
    assert not fixed, f"no longer imported: remove them from KNOWN_PRIVATE_IMPORTS: {fixed}"


#: The top of the package: what notebooks import (flat), the basics every part uses, and the parts' folders.
TOP = {
    "notebooks import": {
        *("gradient_check", "testing", "interop", "references", "training", "plotting", "widgets"),
        *("checks", "datasets"),
    },
    "every part uses": {"units", "errors"},
    "the parts": {"grading", "instructor", "programs"},
}


def test_the_top_of_the_package_holds_what_notebooks_import_and_the_parts_folders():
    found = {p.stem for p in COURSE.glob("*.py") if p.stem != "__init__"}
    found |= {p.name for p in COURSE.iterdir() if (p / "__init__.py").is_file()}
    expected = set().union(*TOP.values())
    assert found <= expected, (
        f"{sorted(found - expected)} at the top of course/: a tool of the instructor's belongs in course/instructor/, "
        "a program in course/programs/, the engine's in course/grading/ (a module notebooks import: add it to TOP)"
    )
