"""Numbers a lecture's prose takes from a computation must still be what the computation says.

The marking (``<!-- computed: 1.103 -->`` in a markdown cell) and the check live in
``course/programs/prose_numbers.py``; ``lectures/conftest.py`` runs it when nbval executes a lecture (CI).
"""

import shutil
import subprocess
import sys

import nbformat
import pytest

from course.programs import prose_numbers

from helpers import ROOT

LECTURES = sorted((ROOT / "lectures").glob("*.ipynb"))
RESULTS = ROOT / "experiments" / "results"


def markdown_cell(source):
    return nbformat.v4.new_markdown_cell(source)


def notebook(*cells):
    return nbformat.v4.new_notebook(cells=list(cells))


@pytest.mark.parametrize("path", LECTURES, ids=lambda p: p.stem)
def test_every_marked_number_is_stated_by_the_prose_of_its_cell(path):
    nb = nbformat.read(path, as_version=4)
    missing = prose_numbers.missing_from_prose(nb)
    assert not missing, prose_numbers.report(path.name, missing, [])


def test_the_lectures_of_issue_23_mark_the_numbers_it_found_stale():
    marked = {
        path.stem: {m.number for m in prose_numbers.marks(nbformat.read(path, as_version=4))} for path in LECTURES
    }
    assert {"1.103", "0.75", "1.12"} <= marked["05_vanishing_gradients"], "lecture 05: the growth at rho = 1.5"
    assert {"0.0004", "0.135", "0.627"} <= marked["06_lstm"], "lecture 06: the MSEs of the shifted forget gates"
    assert {"1.89", "3.44"} <= marked["09_pytorch"], "lecture 09: the RNN's validation loss, lowest and last"


def test_a_number_the_prose_changed_without_its_mark_is_reported():
    nb = notebook(markdown_cell("the gradient grows by 1.5 per step <!-- computed: 1.103 -->"))
    assert [m.number for m in prose_numbers.missing_from_prose(nb)] == ["1.103"]


def test_the_prose_may_round_what_was_printed_but_not_change_it():
    nb = notebook(markdown_cell("about 0.75, 1.1 and 87% <!-- computed: 0.75 1.1 87% -->"))
    assert prose_numbers.stale(nb, ["rms 0.7512, growth 1.103, accuracy 0.871"], RESULTS) == []
    stale = prose_numbers.stale(nb, ["rms 0.7449, growth 1.152, accuracy 0.861"], RESULTS)
    assert [m.number for m in stale] == ["0.75", "1.1", "87%"]


def test_a_labelled_number_must_follow_its_label_in_the_output():
    nb = notebook(markdown_cell("growth 1.103 per step <!-- computed: growth=1.103 -->"))
    assert prose_numbers.stale(nb, ["growth 1.103 per step"], RESULTS) == []
    assert len(prose_numbers.stale(nb, ["rho 1.103\ngrowth 1.5 per step"], RESULTS)) == 1


def test_a_stale_number_planted_in_a_copy_of_a_lecture_is_found_in_its_results_file():
    # lecture 03 states the final MSEs of indrnn_memory.json: checked without executing the lecture
    nb = nbformat.read(ROOT / "lectures" / "03_rnn.ipynb", as_version=4)
    from_results = [m for m in prose_numbers.marks(nb) if m.number == "0.1664"]
    assert from_results, "lecture 03 marks the tanh RNN's final MSE 0.1664 (from indrnn_memory.json)"
    assert not [m for m in prose_numbers.stale(nb, [], RESULTS) if m in from_results]
    cell = nb.cells[from_results[0].cell]
    cell.source = cell.source.replace("0.1664", "0.1564")
    assert [m.number for m in prose_numbers.stale(nb, [], RESULTS) if m.cell == from_results[0].cell].count(
        "0.1564"
    ) == 1


def run_nbval(folder, notebook_path):
    """pytest with nbval on ``notebook_path`` in ``folder``, with the lectures' conftest: (exit code, output)."""
    shutil.copy(ROOT / "lectures" / "conftest.py", folder / "conftest.py")
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval-lax", str(notebook_path)],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return run.returncode, run.stdout + run.stderr


@pytest.mark.slow
def test_executing_a_lecture_whose_prose_states_a_stale_number_fails(tmp_path):
    nb = notebook(
        markdown_cell("The gradient grows by 1.103 per step. <!-- computed: growth=1.103 -->"),
        nbformat.v4.new_code_cell('print(f"growth {1.103:.3f} per step")'),
    )
    nbformat.write(nb, tmp_path / "fresh.ipynb")
    code, out = run_nbval(tmp_path, tmp_path / "fresh.ipynb")
    assert code == 0, out
    nb.cells[0].source = "The gradient grows by 1.5 per step. <!-- computed: growth=1.5 -->"
    nbformat.write(nb, tmp_path / "stale.ipynb")
    code, out = run_nbval(tmp_path, tmp_path / "stale.ipynb")
    assert code != 0 and "growth=1.5" in out, out
