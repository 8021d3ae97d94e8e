"""The course package's layers point one way: no import cycle, and grading never reaches up.

Read from the source (``ast``), not by importing. An import inside a function counts as much as
one at the top: it is a dependency all the same, only resolved later (which is how a cycle hides).
"""

import ast
from pathlib import Path

COURSE = Path(__file__).resolve().parent.parent / "course"

#: What ``course.grading`` (the engine: a notebook in, a result out) must never import: the
#: instructor's layer and the programs around it.
ABOVE_GRADING = (
    "course.instructor",
    "course.intake",
    "course.cli",
    "course.hub",
    "course.lab",
    "course.site",
    "course.report",
    "course.similarity",
)

#: Cycles known and left for a bigger change (issue 22), each with why. Empty: keep it so.
KNOWN_CYCLES = []


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


def test_grading_imports_nothing_from_the_instructors_layer_or_the_programs():
    modules = _modules()
    reaching = [
        f"{name} imports {target}" + ("" if top else " (inside a function)")
        for name, path in modules.items()
        if name == "course.grading" or name.startswith("course.grading.")
        for target, top in _imports(name, path, modules)
        if any(target == above or target.startswith(above + ".") for above in ABOVE_GRADING)
    ]
    assert not reaching, (
        "course.grading is the engine below the instructor's tools; it must not import them "
        f"(import from course.errors or a lower module instead): {reaching}"
    )
