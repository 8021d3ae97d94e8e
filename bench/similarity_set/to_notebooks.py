"""Put each author's answer cells into the released exercise notebook, ready for `course grade`.

    .venv/bin/python bench/similarity_set/to_notebooks.py OUTDIR [UNIT ...]

writes OUTDIR/<unit>/<author>.ipynb for every file of the set. A file is split into cells as the
README says: a cell starts at a top-level ``def NAME(`` with an ``answer_NAME`` cell in the
notebook (comment lines right above it included) and runs to the next one; unit 5's top-level
statements are ``answer_decay_prediction``, followed by the released cell's ``print``.
"""

import ast
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
NON_FUNCTION_CELL = "decay_prediction"  # the one answer cell that is not a function (unit 5)
NON_FUNCTION_TAIL = "print({rho: round(r, 3) for rho, r in predicted.items()})\n"


def answer_cells(source, names):
    """{cell name: source} of one author's file; names: the notebook's answer cells, without 'answer_'."""
    lines = source.splitlines()
    starts, prev_end = [], 0
    for node in ast.parse(source).body:
        is_def = isinstance(node, (ast.FunctionDef, ast.ClassDef))
        key = (node.name if node.name in names else None) if is_def else NON_FUNCTION_CELL
        if key in names and (not starts or starts[-1][1] != key):
            first = node.lineno - 1
            while first > prev_end and lines[first - 1].startswith("#"):
                first -= 1
            starts.append((first, key))
        prev_end = node.end_lineno
    ends = [s for s, _ in starts[1:]] + [len(lines)]
    return {key: "\n".join(lines[s:e]).strip() + "\n" for (s, key), e in zip(starts, ends)}


def fill(unit, author_file):
    """The released notebook of `unit` (a dict) with the author's cells in its answer cells."""
    notebook = json.loads(next((ROOT / "exercises" / unit).glob("*.ipynb")).read_text())
    answers = [c for c in notebook["cells"] if c["metadata"].get("nbgrader", {}).get("solution")]
    names = {c["metadata"]["nbgrader"]["grade_id"].removeprefix("answer_") for c in answers}
    cells = answer_cells(author_file.read_text(), names)
    if set(cells) != names:
        raise SystemExit(f"{author_file}: answer cells missing or unknown: {sorted(set(cells) ^ names)}")
    for cell in answers:
        name = cell["metadata"]["nbgrader"]["grade_id"].removeprefix("answer_")
        cell["source"] = cells[name] + (NON_FUNCTION_TAIL if name == NON_FUNCTION_CELL else "")
    return notebook


def main(argv):
    if not argv:
        raise SystemExit("usage: to_notebooks.py OUTDIR [UNIT ...]")
    out = Path(argv[0])
    units = argv[1:] or sorted(p.name for p in HERE.iterdir() if p.is_dir() and p.name[:2].isdigit())
    for unit in units:
        (out / unit).mkdir(parents=True, exist_ok=True)
        for author_file in sorted((HERE / unit).glob("*.py")):
            target = out / unit / f"{author_file.stem}.ipynb"
            target.write_text(json.dumps(fill(unit, author_file), indent=1) + "\n")
            print(target)


if __name__ == "__main__":
    main(sys.argv[1:])
