"""``course site``: the course website, built offline.

A static site in one folder (``site/`` by default, gitignored): the unit map as its front page
(from :func:`course.units.units`), each lecture executed and rendered to HTML with its figures,
and each exercise (the student version) as a page plus its notebook to download.

Nothing is fetched at build time or when a page is read. Lectures are executed with nbclient and
rendered with nbconvert's ``lab`` template (its CSS is inlined into every page), without the
template's scripts from CDNs (require.js, MathJax, mermaid). The maths is rendered on the server
instead: every ``$...$``, ``$$...$$``, ``\\(...\\)``, ``\\[...\\]`` and ``\\begin{env}...\\end{env}``
of the Markdown becomes MathML (latex2mathml), which browsers display natively; a formula that
cannot be converted is shown as LaTeX source in a ``code.math-error`` element and reported.

Executed lectures are cached in ``<out>/.cache/``, keyed by the notebook and the ``course``
package, so a rebuild executes only what changed; ``--no-execute`` executes nothing: it reuses the
latest cached execution of a lecture whose cells have not changed, and renders other lectures
without their outputs.
"""

import hashlib
import html
import json
import re
import shutil
import time
from pathlib import Path

import nbformat

from course import units as course_units
from course.grading.submission import graded_names

# Markdown that holds no maths: fenced code blocks (a line of ``` or ~~~ to the next one).
_FENCE = re.compile(r"^(`{3,}|~{3,}).*?^\1[ \t]*$", re.M | re.S)
# In the rest: code spans (left alone) or maths (display first, then inline).
_MATH = re.compile(
    r"(?P<code>(?P<ticks>`+).+?(?P=ticks))"
    r"|\$\$(?P<dd>.+?)\$\$"
    r"|\\\[(?P<bracket>.+?)\\\]"
    r"|(?P<env>\\begin\{(?P<envname>[A-Za-z]+\*?)\}.+?\\end\{(?P=envname)\})"
    r"|(?<![\\$])\$(?P<d>[^\s$](?:[^$]*?[^\s\\$])?)\$(?!\d)"
    r"|\\\((?P<paren>.+?)\\\)",
    re.S,
)
_PLACEHOLDER = re.compile(r"MATHxPLACEHOLDERx(\d+)x")
_TAG = re.compile(r"<[^>]*>")

# Delimiters that are left in a page when some maths was not recognised (checked by the tests).
UNRENDERED = re.compile(r"\$\$|\\\[|\\\(|\\begin\{|\\frac|\\mathbb")


class MathRenderer:
    """Turns the maths of Markdown into MathML, through placeholders that Markdown leaves alone."""

    def __init__(self):
        self.formulas = []  # (latex, display)
        self.errors = []  # (latex, message)

    def protect(self, markdown):
        """``markdown`` with each formula replaced by a placeholder (code spans and blocks untouched)."""
        out, pos = [], 0
        for fence in _FENCE.finditer(markdown):
            out.append(self._protect_text(markdown[pos : fence.start()]))
            out.append(fence.group(0))
            pos = fence.end()
        out.append(self._protect_text(markdown[pos:]))
        return "".join(out)

    def _protect_text(self, text):
        def repl(m):
            if m.group("code"):
                return m.group("code")
            if m.group("d") is not None:
                latex, display = m.group("d"), False
            elif m.group("paren") is not None:
                latex, display = m.group("paren"), False
            else:
                latex, display = m.group("dd") or m.group("bracket") or m.group("env"), True
            self.formulas.append((latex.strip(), display))
            return f"MATHxPLACEHOLDERx{len(self.formulas) - 1}x"

        return _MATH.sub(repl, text)

    def mathml(self, i):
        from latex2mathml.converter import convert

        latex, display = self.formulas[i]
        # latex2mathml knows align* but not aligned (nor align without its equation numbers).
        source = re.sub(r"\\(begin|end)\{(aligned|align)\}", r"\\\1{align*}", latex)
        try:
            mathml = convert(source, display="block" if display else "inline")
            # What it does not understand comes out as a literal & or a line break browsers ignore.
            if "<mi>&</mi>" in mathml or 'linebreak="newline"' in mathml:
                raise ValueError("alignment (&) or line break (\\\\) outside an environment it knows")
            return mathml
        except Exception as e:  # latex2mathml raises many kinds of error for LaTeX it does not know
            self.errors.append((latex, f"{type(e).__name__}: {e}"))
            return f'<code class="math-error" title="not rendered: {html.escape(str(e))}">{html.escape(latex)}</code>'

    def restore(self, page):
        """The rendered page with MathML in place of the placeholders (plain LaTeX inside tags' attributes)."""
        page = _TAG.sub(
            lambda t: _PLACEHOLDER.sub(lambda m: _slug(self.formulas[int(m.group(1))][0]), t.group(0)), page
        )
        # A display formula alone in its paragraph: the MathML block replaces the paragraph.
        page = re.sub(r"<p>\s*(MATHxPLACEHOLDERx\d+x)\s*</p>", r"\1", page)
        return _PLACEHOLDER.sub(lambda m: self.mathml(int(m.group(1))), page)


def _slug(latex):
    return re.sub(r"[^A-Za-z0-9]+", "-", latex).strip("-")


def protect_notebook(nb, math):
    """Protects the maths of every Markdown cell and Markdown/LaTeX output of ``nb``, in place."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source = math.protect(cell.source)
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if "text/markdown" in data:
                data["text/markdown"] = math.protect(data["text/markdown"])
            if "text/latex" in data and "text/html" not in data:
                data["text/markdown"] = math.protect(data.pop("text/latex"))
    return nb


def _title(nb, default):
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            m = re.search(r"^#\s+(.+?)\s*$", cell.source, re.M)
            if m:
                return m.group(1)
    return default


def _fingerprint(path):
    """sha256 of a lecture and of the ``course`` package it imports: the key of its cached execution."""
    h = hashlib.sha256(Path(path).read_bytes())
    for py in sorted(Path(__file__).resolve().parent.parent.rglob("*.py")):
        h.update(py.name.encode() + py.read_bytes())
    return h.hexdigest()[:16]


def executed_lecture(path, cache, execute=True, timeout=600):
    """The lecture at ``path``, executed (from the cache when it is up to date).

    Returns ``(nb, state)``, state one of ``"executed"``, ``"cached"``, ``"not executed"``.
    Raises nbclient's ``CellExecutionError`` when a cell fails.
    """
    key = cache / f"{Path(path).stem}-{_fingerprint(path)}.ipynb"
    if key.exists():
        return nbformat.read(key, as_version=4), "cached"
    nb = nbformat.read(path, as_version=4)
    if not execute:
        # An execution from before a change to the course package, if the lecture's cells are the same.
        for old in sorted(cache.glob(f"{Path(path).stem}-*.ipynb"), key=lambda f: f.stat().st_mtime, reverse=True):
            cached = nbformat.read(old, as_version=4)
            if [c.source for c in cached.cells] == [c.source for c in nb.cells]:
                return cached, "cached (before the latest change to the course package)"
        return nb, "not executed"
    from nbclient import NotebookClient

    NotebookClient(
        nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(Path(path).parent)}}
    ).execute()
    cache.mkdir(parents=True, exist_ok=True)
    for old in cache.glob(f"{Path(path).stem}-*.ipynb"):
        old.unlink()
    nbformat.write(nb, key)
    return nb, "executed"


_SITE_CSS = """
.site-nav { display: flex; flex-wrap: wrap; gap: 0.4em 1.5em; align-items: baseline; padding: 0.6em 1.2em;
  border-bottom: 1px solid #ddd; background: #f7f7f7; font-family: system-ui, sans-serif; font-size: 15px; }
.site-nav a { text-decoration: none; color: #1a5fb4; }
.site-nav .here { font-weight: 600; }
.site-nav .spacer { flex: 1; }
main { max-width: 1100px; margin: 0 auto; }
/* MathML is laid out by the browser with an OpenType MATH font: the reader's own (no download). */
math { font-size: 1.15em; font-family: "STIX Two Math", "Latin Modern Math", "Cambria Math", "TeX Gyre Termes Math",
  "DejaVu Math TeX Gyre", "Noto Sans Math", math; }
math[display="block"] { margin: 0.8em 0; font-size: 1.25em; }
mtd[columnalign="left"] { text-align: left; }
mtd[columnalign="right"] { text-align: right; }
code.math-error { color: #a00; background: #fee; }
"""

_INDEX_CSS = """
body { font-family: system-ui, sans-serif; max-width: 1000px; margin: 0 auto; padding: 0 1.2em 3em; line-height: 1.5;
  color: #222; }
h1 { margin-top: 1.2em; }
table.units { border-collapse: collapse; width: 100%; }
table.units th, table.units td { border-bottom: 1px solid #ddd; padding: 0.5em 0.6em; text-align: left;
  vertical-align: top; }
table.units th { background: #f3f3f3; }
table.units td.n { font-weight: 600; width: 2.5em; }
code { background: #f3f3f3; padding: 0 0.25em; border-radius: 3px; font-size: 0.92em; }
a { color: #1a5fb4; }
footer { margin-top: 3em; color: #666; font-size: 0.9em; }
"""

_COURSE_TITLE = "Recurrent neural networks, from the perceptron to bidirectional LSTMs"


def _template_loader():
    """nbconvert's ``lab`` page without its CDN scripts, with the site's navigation bar."""
    import jinja2

    template = (
        """{%- extends 'index.html.j2' -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{% block jupyter_widgets %}{% endblock jupyter_widgets %}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block html_head_css -%}<style type="text/css">"""
        + _SITE_CSS
        + """</style>{%- endblock html_head_css -%}
{%- block body_header -%}
<body class="jp-Notebook" data-jp-theme-light="true" data-jp-theme-name="JupyterLab Light">
{{ resources.site_nav }}
<main>
{%- endblock body_header -%}
"""
    )
    return jinja2.DictLoader({"course_site.html.j2": template})


def _no_alt_text_warning(record):
    return "Alternative text is missing" not in record.getMessage()


def render(nb, nav_html, title):
    """An HTML page of notebook ``nb`` with its maths as MathML; returns ``(html, math errors)``."""
    from nbconvert import HTMLExporter

    nb = nbformat.from_dict(json.loads(json.dumps(nb)))  # a copy: the placeholders stay out of the caller's nb
    nb.metadata["title"] = title
    math = MathRenderer()
    protect_notebook(nb, math)
    exporter = HTMLExporter(
        template_name="lab",
        template_file="course_site.html.j2",
        extra_loaders=[_template_loader()],
        embed_images=True,
    )
    exporter.log.addFilter(_no_alt_text_warning)  # figures get a generic alt text below
    body, _ = exporter.from_notebook_node(nb, resources={"site_nav": nav_html})
    body = body.replace(
        'alt="No description has been provided for this image"', 'alt="Figure: output of the code above"'
    )
    return math.restore(body), math.errors


def _nav(links, here):
    parts = []
    for label, href in links:
        if href is None:
            parts.append('<span class="spacer"></span>')
        elif label == here:
            parts.append(f'<span class="here">{html.escape(label)}</span>')
        else:
            parts.append(f'<a href="{html.escape(href)}">{html.escape(label)}</a>')
    return '<nav class="site-nav">' + "".join(parts) + "</nav>"


def build_site(out=None, unit_ids=None, execute=True, timeout=600, root=None, log=print):
    """Builds the website into ``out`` (default: ``site/`` in the course); returns a summary dict.

    ``unit_ids`` limits the site to those units (the front page then lists only them).
    Raises RuntimeError, after writing every other page, when a lecture fails to execute.
    """
    start = time.monotonic()
    root = Path(root) if root else course_units.course_root()
    out = Path(out).resolve() if out else root / "site"
    all_units = course_units.units(root)
    chosen = [u for u in all_units if unit_ids is None or u.id in unit_ids]
    unknown = set(unit_ids or ()) - {u.id for u in all_units}
    if unknown:
        raise KeyError(f"no unit(s) {', '.join(sorted(unknown))}; units: {', '.join(u.id for u in all_units)}")
    cache = out / ".cache"
    for sub in ("lectures", "exercises"):
        shutil.rmtree(out / sub, ignore_errors=True)
        (out / sub).mkdir(parents=True)

    rows, states, errors, failures = [], {}, {}, []
    for i, unit in enumerate(chosen):
        exercise_nb = next(iter(sorted(unit.release_dir.glob("*.ipynb"))), None)
        lecture_href = f"lectures/{unit.id}.html"
        exercise_href = f"exercises/{unit.id}/{exercise_nb.stem}.html" if exercise_nb else None
        prev_u = chosen[i - 1] if i > 0 else None
        next_u = chosen[i + 1] if i + 1 < len(chosen) else None

        def nav(up, here, unit=unit, prev_u=prev_u, next_u=next_u, exercise_href=exercise_href):
            links = [("Course home", f"{up}index.html"), ("Lecture", f"{up}lectures/{unit.id}.html")]
            if exercise_href:
                links.append(("Exercise", up + exercise_href))
            links.append(("", None))
            if prev_u:
                links.append((f"\u2190 {prev_u.id}", f"{up}lectures/{prev_u.id}.html"))
            if next_u:
                links.append((f"{next_u.id} \u2192", f"{up}lectures/{next_u.id}.html"))
            return _nav(links, here)

        title = unit.id
        if unit.lecture.exists():
            t0 = time.monotonic()
            try:
                nb, state = executed_lecture(unit.lecture, cache, execute=execute, timeout=timeout)
            except Exception as e:  # nbclient's CellExecutionError, a dead kernel, a timeout
                failures.append(f"{unit.id}: {type(e).__name__}: {str(e)[-2000:]}")
                nb, state = nbformat.read(unit.lecture, as_version=4), "failed"
            states[unit.id] = state
            title = _title(nb, unit.id)
            page, errs = render(nb, nav("../", "Lecture"), title)
            (out / lecture_href).write_text(page, encoding="utf-8")
            errors.update({f"{lecture_href}: {latex}": msg for latex, msg in errs})
            log(f"course site: {unit.id}: lecture {state} ({time.monotonic() - t0:.1f} s)")
        functions = []
        if exercise_nb:
            (out / "exercises" / unit.id).mkdir(parents=True)
            shutil.copy(exercise_nb, out / "exercises" / unit.id / exercise_nb.name)
            enb = nbformat.read(exercise_nb, as_version=4)
            page, errs = render(enb, nav("../../", "Exercise"), _title(enb, exercise_nb.stem))
            (out / exercise_href).write_text(page, encoding="utf-8")
            errors.update({f"{exercise_href}: {latex}": msg for latex, msg in errs})
            functions = graded_names(json.loads(exercise_nb.read_text(encoding="utf-8")))
        rows.append(
            (unit, title, lecture_href if unit.lecture.exists() else None, exercise_href, exercise_nb, functions)
        )

    (out / "index.html").write_text(_index(rows), encoding="utf-8")
    for key, msg in errors.items():
        log(f"course site: maths not rendered in {key} ({msg})")
    seconds = time.monotonic() - start
    log(f"course site: {len(rows)} unit(s) written to {out}/index.html in {seconds:.0f} s")
    if failures:
        raise RuntimeError("lectures failed to execute:\n" + "\n".join(failures))
    return {"out": out, "units": [u.id for u, *_ in rows], "states": states, "math_errors": errors, "seconds": seconds}


def _index(rows):
    body = []
    for unit, title, lecture, exercise, exercise_nb, functions in rows:
        number = int(unit.id.split("_", 1)[0])
        name = re.sub(r"^Unit \d+\s*[\u2014:-]\s*", "", title)
        lec = f'<a href="{lecture}">{html.escape(name)}</a>' if lecture else html.escape(name)
        ex = (
            f'<a href="{exercise}">{html.escape(exercise_nb.name)}</a> '
            f'(<a href="exercises/{unit.id}/{exercise_nb.name}" download>notebook</a>)'
            if exercise
            else ""
        )
        fns = ", ".join(f"<code>{html.escape(f)}</code>" for f in functions)
        body.append(f'<tr id="unit-{number}"><td class="n">{number}</td><td>{lec}</td><td>{ex}</td><td>{fns}</td></tr>')
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>{html.escape(_COURSE_TITLE)}</title>
<style>{_INDEX_CSS}</style>
</head>
<body>
<h1>{html.escape(_COURSE_TITLE)}</h1>
<p>An open course in Jupyter notebooks: every model is built from scratch in NumPy, proven equal to PyTorch,
explained with experiments you can watch, and graded by nbgrader, offline, on a laptop CPU.</p>
<p>Each unit is a <strong>lecture</strong> (read it here, or run it in JupyterLab) and an <strong>exercise</strong>
whose tests tell you where you stand. To work on them, clone the course and run
<code>.venv/bin/course lab</code> (see the README); the exercise pages here show what you will fill in.</p>
<h2>The units</h2>
<table class="units">
<thead><tr><th>#</th><th>lecture</th><th>exercise</th><th>graded functions</th></tr></thead>
<tbody>
{chr(10).join(body)}
</tbody>
</table>
<footer>Course code and notebooks: MIT. Built with <code>course site</code>.</footer>
</body>
</html>
"""
