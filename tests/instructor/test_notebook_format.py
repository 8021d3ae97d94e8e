"""Every committed notebook is in the form JupyterLab opens unmodified (course/instructor/notebook_format.py).

The browser side (a lecture opened in JupyterLab is not marked as changed) is in tests/system/test_lab.py.
"""

import json
import subprocess

import nbformat

from course.instructor.notebook_format import (
    KERNELSPEC,
    REFERENCE_PYTHON,
    language_info,
    normalised_text,
    not_normalised,
)

from helpers import ROOT


def _committed_notebooks():
    """The course's notebooks: git's list in a checkout; the three folders in a copy without .git (a tarball)."""
    if (ROOT / ".git").exists():
        listed = subprocess.run(["git", "ls-files", "*.ipynb"], cwd=ROOT, capture_output=True, text=True, check=True)
        return [ROOT / p for p in listed.stdout.split()]
    return sorted(p for folder in ("lectures", "solutions", "exercises") for p in (ROOT / folder).rglob("*.ipynb"))


def test_every_committed_notebook_is_in_the_committed_form():
    notebooks = _committed_notebooks()
    assert notebooks, "git lists no notebook"
    bad = [str(p.relative_to(ROOT)) for p in not_normalised(notebooks)]
    assert not bad, (
        f"{len(bad)} notebook(s) would open as modified in JupyterLab (kernelspec, language_info, cell ids "
        "or layout): run `.venv/bin/python -m course.instructor.notebook_format lectures solutions && "
        f".venv/bin/course release`; first ones: {bad[:5]}"
    )


def _notebook(**metadata):
    nb = nbformat.v4.new_notebook(metadata=metadata)
    nb.cells = [nbformat.v4.new_markdown_cell("# A"), nbformat.v4.new_code_cell("1 + 1")]
    return nb


def test_the_committed_form_names_the_kernel_and_its_language_as_ipykernel_reports_them():
    nb = json.loads(normalised_text(nbformat.writes(_notebook(language_info={"name": "python"}))))
    assert nb["metadata"]["kernelspec"] == KERNELSPEC
    assert nb["metadata"]["language_info"] == language_info() and language_info()["version"] == REFERENCE_PYTHON
    assert {"mimetype", "codemirror_mode", "pygments_lexer", "file_extension"} <= set(language_info())


def test_the_committed_form_is_nbformat_4_5_with_an_id_on_every_cell():
    old = _notebook()
    old.nbformat_minor = 4
    for cell in old.cells:
        cell.pop("id", None)
    nb = json.loads(normalised_text(json.dumps(old)))
    assert (nb["nbformat"], nb["nbformat_minor"]) == (4, 5)
    assert len({c["id"] for c in nb["cells"]}) == len(nb["cells"])


def test_other_metadata_and_existing_cell_ids_are_kept():
    nb = _notebook(course={"torch": ["f"]})
    nb.cells[0]["id"] = "intro"
    out = json.loads(normalised_text(nbformat.writes(nb)))
    assert out["metadata"]["course"] == {"torch": ["f"]} and out["cells"][0]["id"] == "intro"


def test_normalising_twice_changes_nothing():
    once = normalised_text(nbformat.writes(_notebook()))
    assert normalised_text(once) == once
