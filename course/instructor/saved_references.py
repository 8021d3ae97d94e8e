"""Write the saved torch references of units 1-8: ``python -m course.instructor.saved_references``.

Runs each unit's solution notebook (``solutions/NN_name/*.ipynb``, hidden tests left out: the grader
keeps live torch) in one IPython shell with torch installed, records every call of a
:func:`course.references.saved_reference` its visible tests make -- and those their hints would
make on failure (:func:`course.references.evaluate_when_recording`) -- and writes them to
``course/checks/saved/<unit>.npz``. Run it after changing a check's reference, seeds or sizes, or a
visible test; the tests say when it is due (tests/package/test_saved_references.py, test_without_torch.py).
It runs as a program of its own: IPython's shell takes over the process's ``__main__``.
"""

import argparse
import io
import os
import sys
import time
from contextlib import chdir, redirect_stderr, redirect_stdout

import nbformat

from course import references
from course.instructor.feedback import without_hidden_tests
from course.interop import INSTALL_TORCH
from course.units import course_root, units

#: The units whose checks run without torch (the student's install: ``pip install -e .``).
UNITS_WITHOUT_TORCH = 8


def code_of(notebook):
    """The code cells of ``notebook`` (a path), hidden tests left out."""
    nb = nbformat.read(notebook, as_version=4)
    return [without_hidden_tests(c.source) for c in nb.cells if c.cell_type == "code"]


def run_notebook(shell, notebook):
    """Run every code cell of ``notebook`` in ``shell`` from its folder; raise at the first error."""
    with chdir(notebook.parent), redirect_stdout(io.StringIO()), redirect_stderr(io.StringIO()):
        for n, source in enumerate(code_of(notebook), 1):
            result = shell.run_cell(source, silent=True, store_history=False)
            if not result.success:
                raise RuntimeError(f"{notebook.name}: code cell {n} failed: {result.error_in_exec!r}")


def record_units(root, unit_ids, log=print):
    """Run the solutions of the units ``unit_ids`` while recording; returns the Recorder (a group per unit)."""
    if not references.torch_installed():
        sys.exit(f"recording needs torch: {INSTALL_TORCH}")
    os.environ.setdefault("MPLBACKEND", "Agg")
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    with references.record() as recorder:
        for unit in (u for u in units(root) if u.id in unit_ids):
            recorder.group, start = unit.id, time.perf_counter()
            for notebook in unit.source_notebooks:
                shell.reset(new_session=False)
                run_notebook(shell, notebook)
            log(f"{unit.id}: recorded in {time.perf_counter() - start:.1f} s")
    return recorder


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("units", nargs="*", help="unit ids (e.g. 06_lstm); default: units 1-8")
    args = parser.parse_args(argv)
    root = course_root()
    unit_ids = args.units or [u.id for u in units(root)[:UNITS_WITHOUT_TORCH]]
    recorder = record_units(root, unit_ids)
    for group, n in recorder.save().items():
        size = (references.SAVED_DIR / f"{group}.npz").stat().st_size
        print(f"{references.SAVED_DIR.name}/{group}.npz: {n} calls, {size / 1024:.0f} KiB")


if __name__ == "__main__":
    main()
