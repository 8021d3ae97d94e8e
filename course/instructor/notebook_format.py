"""The committed form of the course's notebooks: the form JupyterLab opens without marking it modified.

JupyterLab marks a notebook as changed as soon as its kernel starts when the notebook's
``metadata.language_info`` differs from what the kernel reports (it writes the kernel's
``language_info`` into the notebook, and any difference is a change): the course's notebooks said
only ``{"name": "python"}``, so every one opened "modified" and closing an untouched lecture asked
to save. (Seen in JupyterLab 4.6 with headless Chromium: the tab's dirty marker appears once the
kernel is idle; with ipykernel's full ``language_info``, version included, it never does.)

So every notebook is committed with

* ``metadata.kernelspec`` = :data:`KERNELSPEC` (what JupyterLab writes for the ``python3`` kernel),
* ``metadata.language_info`` = ipykernel's ``language_info`` for :data:`REFERENCE_PYTHON`,
* nbformat 4.5 (an older minor version is upgraded, a change) with an id on every cell,
* nbformat's serialisation (sorted keys, one-space indent, a final newline).

The version is part of ``language_info``: on another Python the committed files open modified
again, which is why a student's own copies (``course lab``'s ``my-work/``) are written with
:func:`local_language_info`, that of the Python the lab's kernel runs on.

Run ``python -m course.instructor.notebook_format PATH...`` to normalise notebooks in place (``--check``: only
list those that are not normalised); ``course release`` writes the exercises normalised.
"""

import argparse
import sys
from pathlib import Path

import nbformat

#: The course's Python (as ``course/datasets/text.py``'s corpus): committed notebooks name it.
REFERENCE_PYTHON = "3.11.7"
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


def local_language_info():
    """What this Python's ipykernel reports as ``language_info`` (the kernel of ``course lab`` runs here)."""
    from ipykernel.ipkernel import IPythonKernel

    return dict(IPythonKernel.language_info)


def language_info(version=REFERENCE_PYTHON):
    """ipykernel's ``language_info``, for Python ``version``."""
    return dict(local_language_info(), version=version)


def normalise(nb, info=None):
    """``nb`` (an nbformat NotebookNode, changed in place and returned) in the committed form.

    ``info``: the ``language_info`` to write (default: :func:`language_info` of the reference Python).
    Cell ids that exist are kept; a cell without one gets ``cell-<index>`` (unique in the notebook).
    """
    nb.nbformat, nb.nbformat_minor = 4, max(5, nb.get("nbformat_minor", 0))
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    nb.metadata["language_info"] = language_info() if info is None else dict(info)
    taken = {c.get("id") for c in nb.cells}
    for i, cell in enumerate(nb.cells):
        if not cell.get("id"):
            new, n = f"cell-{i}", 0
            while new in taken:
                n += 1
                new = f"cell-{i}-{n}"
            cell["id"] = new
            taken.add(new)
    return nb


def normalised_text(text, info=None):
    """The committed form of the notebook whose file content is ``text`` (a str)."""
    nb = nbformat.reads(text, as_version=4)
    return nbformat.writes(normalise(nb, info)) + "\n"


def not_normalised(paths):
    """The notebooks among ``paths`` whose file differs from its committed form."""
    return [p for p in map(Path, paths) if normalised_text(p.read_text(encoding="utf-8")) != _read(p)]


def _read(path):
    with open(path, encoding="utf-8", newline="") as f:  # line endings as they are, so CRLF counts as a change
        return f.read()


def write_normalised(path, info=None):
    """Rewrites the notebook at ``path`` in the committed form; returns whether it changed."""
    path = Path(path)
    before = _read(path)
    after = normalised_text(before, info)
    if after != before:
        path.write_text(after, encoding="utf-8", newline="\n")
    return after != before


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m course.instructor.notebook_format", description=__doc__.split("\n")[0]
    )
    parser.add_argument("paths", nargs="+", type=Path, help="notebooks, or folders to search for *.ipynb")
    parser.add_argument(
        "--check", action="store_true", help="list the notebooks not in the committed form, change none"
    )
    args = parser.parse_args(argv)
    paths = [q for p in args.paths for q in (sorted(p.rglob("*.ipynb")) if p.is_dir() else [p])]
    paths = [p for p in paths if ".ipynb_checkpoints" not in p.parts]
    if args.check:
        bad = not_normalised(paths)
        for p in bad:
            print(f"{p}: not in the committed form; run python -m course.instructor.notebook_format {p}")
        return 1 if bad else 0
    for p in paths:
        if write_normalised(p):
            print(f"normalised {p}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
