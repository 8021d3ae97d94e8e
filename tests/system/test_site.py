"""`course site`: maths to MathML, and a small site (units 1-2) built offline and read in headless Chromium.

The browser test loads every page of the built site from a loopback server and fails on a console
error, a failed or outside request (all are blocked: the site must work offline), a broken internal
link or anchor, a figure that does not load, or maths left unrendered. Screenshots go to
test-artifacts/site/. Without Chromium or Playwright it SKIPS and says why (see test_browser.py).
"""

import functools
import http.server
import re
import threading
import urllib.parse
import urllib.request

import pytest

from course.programs.site import UNRENDERED, MathRenderer, build_site

from browser import ARTIFACTS as BROWSER_ARTIFACTS
from browser import chromium_or_skip, launch

ARTIFACTS = BROWSER_ARTIFACTS.parent / "site"
UNITS = ["01_perceptron", "02_backprop"]


def _render(markdown):
    math = MathRenderer()
    protected = math.protect(markdown)
    return math, protected


@pytest.mark.parametrize(
    "markdown, formulas",
    [
        ("a $x_i$ b", [("x_i", False)]),
        ("a $$\\frac{a}{b}$$ b", [("\\frac{a}{b}", True)]),
        ("a \\(x\\) and \\[y\\]", [("x", False), ("y", True)]),
        ("\\begin{align} a &= b \\\\ c &= d \\end{align}", [("\\begin{align} a &= b \\\\ c &= d \\end{align}", True)]),
        ("$$\nW_x \\in \\mathbb{R}^{D \\times H}\n$$", [("W_x \\in \\mathbb{R}^{D \\times H}", True)]),
        ("it costs $5 and $10", []),  # money, not maths
        ("escaped \\$x\\$ stays", []),
        ("code `$x$` and\n```\n$$y$$\n```\n", []),  # code spans and blocks are left alone
        ("**$a*b$** and $c_1$, $d_2$", [("a*b", False), ("c_1", False), ("d_2", False)]),
    ],
)
def test_maths_is_found_outside_code(markdown, formulas):
    math, protected = _render(markdown)
    assert math.formulas == formulas
    assert "$$" not in protected or "```" in protected


def test_placeholders_become_mathml_and_stay_out_of_attributes():
    math, protected = _render("## Gate $f_t$\n\n$$\nh = \\tanh(x)\n$$\n")
    page = f'<h2 id="Gate-{protected.split()[2]}">Gate {protected.split()[2]}</h2><p>{protected.split()[3]}</p>'
    out = math.restore(page)
    assert out.startswith('<h2 id="Gate-f-t">Gate <math')
    assert '<math xmlns="http://www.w3.org/1998/Math/MathML" display="block">' in out
    assert "<p><math" not in out  # a display formula alone in a paragraph replaces it
    assert not math.errors and "PLACEHOLDER" not in out


def test_aligned_equations_become_a_table_and_unknown_latex_is_reported():
    math, protected = _render("$$\\begin{aligned} a &= b \\\\ c &= d \\end{aligned}$$ and $a \\\\ b$")
    out = math.restore(protected)
    assert out.count("<mtr>") == 2 and "<mi>&</mi>" not in out
    assert [latex for latex, _ in math.errors] == ["a \\\\ b"] and 'class="math-error"' in out


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site") / "site"
    summary = build_site(out, unit_ids=UNITS, execute=True, log=lambda msg: None)
    return out, summary


@pytest.mark.slow
def test_site_builds_offline(site):
    out, summary = site
    assert summary["units"] == UNITS
    assert set(summary["states"].values()) <= {"executed", "cached"}
    assert summary["math_errors"] == {}
    for unit in UNITS:
        page = (out / "lectures" / f"{unit}.html").read_text()
        assert "<math" in page and "data:image/png;base64," in page  # maths and figures, inline
        assert not re.search(r"""(src|href)=["']?(https?:)?//|url\(["']?(https?:)?//|@import""", page)  # all local
        assert not UNRENDERED.search(
            re.sub(r"<pre.*?</pre>|<code.*?</code>", "", page, flags=re.S).split("<main>", 1)[1]
        )
    index = (out / "index.html").read_text()
    assert "lectures/01_perceptron.html" in index and "exercises/01_perceptron/perceptron.ipynb" in index


def _serve(folder):
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


_PAGE_CHECKS = """() => {
    const imgs = [...document.images];
    const maths = [...document.querySelectorAll('math')];
    const markdown = [...document.querySelectorAll('.jp-RenderedMarkdown')].map(e => {
        const c = e.cloneNode(true);
        c.querySelectorAll('math, code, pre').forEach(x => x.remove());
        return c.textContent;
    }).join('\\n');
    const ids = new Set([...document.querySelectorAll('[id]')].map(e => e.id));
    return {
        images: imgs.length,
        broken_images: imgs.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src.slice(0, 80)),
        maths: maths.length,
        // Chromium lays MathML out natively: its computed display is "math" / "block math".
        unrendered_maths: maths.filter(m => !getComputedStyle(m).display.includes('math')).length,
        math_errors: document.querySelectorAll('.math-error').length,
        markdown: markdown,
        links: [...document.querySelectorAll('a[href]')].map(a => a.getAttribute('href')),
        // A fragment matches an id as written or percent-decoded (nbconvert's heading ids are encoded).
        missing_anchors: [...document.querySelectorAll('a[href^="#"]')].map(a => a.getAttribute('href').slice(1))
            .filter(id => id && !ids.has(id) && !ids.has(decodeURIComponent(id))),
    };
}"""


def crawl(pw, out, artifacts=ARTIFACTS):
    """Loads every page of the site in folder ``out`` from a loopback server: (pages seen, problems)."""
    server = _serve(out)
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    artifacts.mkdir(parents=True, exist_ok=True)
    problems, seen, queue, downloads = [], set(), ["index.html"], set()
    try:
        with pw.sync_playwright() as p:
            browser = launch(p)
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            outside = []

            def route(r):
                if r.request.url.startswith(base) or r.request.url.startswith("data:"):
                    r.continue_()
                else:
                    outside.append(r.request.url)
                    r.abort()

            page.route("**/*", route)
            events = []
            page.on("console", lambda m: m.type == "error" and events.append(f"console error: {m.text}"))
            page.on("pageerror", lambda e: events.append(f"page error: {e}"))
            page.on("requestfailed", lambda r: events.append(f"request failed: {r.url}"))
            page.on("response", lambda r: r.status >= 400 and events.append(f"HTTP {r.status}: {r.url}"))
            while queue:
                path = queue.pop(0)
                if path in seen:
                    continue
                seen.add(path)
                events.clear()
                page.goto(base + path, wait_until="load")
                info = page.evaluate(_PAGE_CHECKS)
                where = f"{path}: "
                problems += [where + e for e in events]
                problems += [where + f"figure did not load: {src}" for src in info["broken_images"]]
                problems += [where + f"broken anchor #{a}" for a in info["missing_anchors"]]
                if info["math_errors"] or info["unrendered_maths"]:
                    problems.append(
                        where + f"{info['math_errors']} maths errors, {info['unrendered_maths']} "
                        "formulas not laid out as MathML"
                    )
                left = UNRENDERED.search(info["markdown"])
                if left:
                    problems.append(where + f"unrendered maths near {info['markdown'][left.start() - 40 :][:80]!r}")
                if path.startswith("lectures/"):
                    if info["images"] == 0 or info["maths"] == 0:
                        problems.append(where + f"a lecture with {info['images']} figures, {info['maths']} formulas")
                    page.screenshot(path=str(artifacts / f"{path.replace('/', '_')}.png"))
                    if info["images"]:
                        page.locator("img").first.evaluate("e => e.scrollIntoView({block: 'center'})")
                    page.screenshot(path=str(artifacts / f"{path.replace('/', '_')}-figure.png"))
                elif path == "index.html":
                    page.screenshot(path=str(artifacts / "index.png"), full_page=True)
                for href in info["links"]:
                    target = urllib.parse.urljoin(base + path, href)
                    if not target.startswith(base):
                        problems.append(where + f"link leaves the site: {href}")
                        continue
                    rel = urllib.parse.urlsplit(target).path[1:]
                    if rel.endswith(".html"):
                        queue.append(rel)
                    elif rel and rel != path:
                        downloads.add(rel)
            browser.close()
        for rel in sorted(downloads):  # notebooks to download: served, not navigated to
            with urllib.request.urlopen(base + rel) as r:
                assert r.status == 200 and r.read(1)
        problems += [f"request to outside the site (blocked): {u}" for u in outside]
    finally:
        server.shutdown()
        server.server_close()
    return seen, problems


@pytest.mark.slow
def test_every_page_of_the_site_in_chromium(site):
    pw = chromium_or_skip()
    out, _ = site
    seen, problems = crawl(pw, out)
    expected = {"index.html"} | {f"lectures/{u}.html" for u in UNITS}
    assert expected <= seen and any(p.startswith("exercises/") for p in seen), sorted(seen)
    assert not problems, "\n".join(problems)
