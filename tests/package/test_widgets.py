"""The interactive figures of lectures 5 and 6, moved by a student in `course lab` (headless Chromium).

Each lecture is run in JupyterLab (Run All), then its slider is set to another value through the
slider's readout, as a student would type it; the figure below the slider must be drawn again
(its image changes). Screenshots land in test-artifacts/widgets/. The lab, Chromium and the
helpers are those of tests/system/test_browser.py (this module only provides the course copy the lab
serves); without Chromium or Playwright the tests SKIP and say why.

A check without a browser pins the static page: the executed notebook's figure is a plain PNG
output, so nbconvert's HTML shows the default state even where widgets cannot run.
"""

import shutil

import pytest

from browser import (
    LONG,
    chromium_or_skip,
    code_cell,
    launch,
    open_notebook,
    run_all_and_wait,
)
from helpers import ROOT

ARTIFACTS = ROOT / "test-artifacts" / "widgets"

# lecture -> (the start of the cell that draws the interactive figure, the slider's new value)
FIGURES = {
    "05_vanishing_gradients": ("def draw_gradient_norms", "2.5"),
    "06_lstm": ("x_shift, y_shift", "-3"),
}


@pytest.fixture(scope="module")
def course_copy(tmp_path_factory):
    """A course root with the two lectures and the saved experiment lecture 6 loads (overrides test_browser's)."""
    root = tmp_path_factory.mktemp("widgets") / "course"
    for folder in ("lectures", "solutions", "exercises"):  # no units: `course lab` only lists them
        (root / folder).mkdir(parents=True)
    shutil.copy(ROOT / "nbgrader_config.py", root)
    for name in FIGURES:
        shutil.copy(ROOT / "lectures" / f"{name}.ipynb", root / "lectures")
    (root / "experiments" / "results").mkdir(parents=True)
    for script in ("adding_problem.py", "_runs.py"):  # (the script's models, and what it imports)
        shutil.copy(ROOT / "experiments" / script, root / "experiments")
    for path in (ROOT / "experiments" / "results").glob("adding_*"):
        shutil.copy(path, root / "experiments" / "results")
    return root


def figure_src(cell):
    """The src of the figure in ``cell``'s output (a data: or blob: URL of the PNG)."""
    img = cell.locator(".jp-OutputArea-output img").first
    img.wait_for(timeout=LONG)
    return img.get_attribute("src")


def set_slider(page, cell, value):
    """Type ``value`` into the first slider's readout of ``cell`` and press Enter, as a student can."""
    readout = cell.locator(".widget-slider .widget-readout").first
    readout.wait_for(timeout=60_000)
    readout.click()
    page.keyboard.press("Control+a")
    page.keyboard.type(value)
    page.keyboard.press("Enter")


@pytest.mark.slow
@pytest.mark.parametrize("lecture", list(FIGURES))
def test_moving_the_slider_redraws_the_figure(lab, lecture):  # noqa: F811  (the fixture imported above)
    pw = chromium_or_skip()
    start, value = FIGURES[lecture]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with pw.sync_playwright() as p:
        browser = launch(p)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        try:
            open_notebook(page, lab, f"lectures/{lecture}.ipynb")
            run_all_and_wait(page)
            cell = code_cell(page, start)
            cell.scroll_into_view_if_needed()
            before = figure_src(cell)
            page.screenshot(path=str(ARTIFACTS / f"{lecture}-default.png"))
            set_slider(page, cell, value)
            page.wait_for_function(
                "([el, src]) => { const img = el.querySelector('.jp-OutputArea-output img');"
                " return img && img.getAttribute('src') !== src; }",
                arg=[cell.element_handle(), before],
                timeout=60_000,
                polling=250,
            )
            page.screenshot(path=str(ARTIFACTS / f"{lecture}-moved.png"))
            readout = cell.locator(".widget-slider .widget-readout").first.inner_text().replace("\u2212", "-")
            assert float(readout) == pytest.approx(float(value)), f"the slider reads {readout}, not {value}"
        except Exception:
            page.screenshot(path=str(ARTIFACTS / f"{lecture}-failure.png"))
            raise
        finally:
            browser.close()


def test_static_page_shows_the_default_figure(tmp_path):
    """slider_figure's figure is an ordinary PNG output: a page without widget JavaScript still shows it."""
    nbformat = pytest.importorskip("nbformat")
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(
            "import matplotlib.pyplot as plt\n"
            "from ipywidgets import FloatSlider\n"
            "from course.widgets import slider_figure\n"
            "def draw(a):\n"
            "    fig, ax = plt.subplots(figsize=(2, 2))\n"
            "    ax.plot([0, 1], [0, a])\n"
            "    return fig\n"
            "box = slider_figure(draw, a=FloatSlider(value=1.0, min=0.0, max=2.0))"
        )
    ]
    NotebookClient(nb, timeout=60, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = nb.cells[0].outputs
    kinds = [sorted(o.get("data", {})) for o in outputs]
    assert any("application/vnd.jupyter.widget-view+json" in k for k in kinds), f"no slider in the output: {kinds}"
    assert any("image/png" in k and "application/vnd.jupyter.widget-view+json" not in k for k in kinds), (
        f"the figure must be a PNG output of its own (the static page's default state), got {kinds}"
    )
