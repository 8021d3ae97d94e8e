"""When nbval executes a lecture, the numbers its prose marks as computed must be in what it printed.

nbval runs a notebook as one pytest item per code cell; after the last one, every number marked
``<!-- computed: ... -->`` in the markdown must appear in the outputs of the run or in a results file
the notebook reads (``course/programs/prose_numbers.py``). A stale sentence fails the lecture's last cell.
"""

import pytest
from nbval.plugin import IPyNbCell

from course.programs import prose_numbers
from course.units import course_root

_runs = {}  # notebook node id -> [cells run so far, their output text]


@pytest.hookimpl(trylast=True)  # after nbval's runtest: only reached when the cell itself passed
def pytest_runtest_call(item):
    if not isinstance(item, IPyNbCell) or item.test_outputs is None:
        return
    notebook = item.parent
    run = _runs.setdefault(notebook.nodeid, [0, []])
    run[0] += 1
    run[1] += prose_numbers.output_texts(item.test_outputs)
    code_cells = sum(c.cell_type == "code" for c in notebook.nb.cells)
    if item.cell_num != code_cells - 1 or run[0] != code_cells:
        return  # not the last cell, or an earlier one failed or was skipped (already reported)
    missing = prose_numbers.missing_from_prose(notebook.nb)
    unsupported = prose_numbers.stale(notebook.nb, run[1], course_root() / "experiments" / "results")
    if missing or unsupported:
        pytest.fail(prose_numbers.report(notebook.path.name, missing, unsupported), pytrace=False)
