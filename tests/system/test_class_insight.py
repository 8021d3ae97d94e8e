"""What an instructor learns from a graded class, end to end (issue 24): a class of unit 6 graded by
``course autograde``, then ``course report`` and ``course similarity`` on it, read in Chromium.

The class: the independent implementations of bench/similarity_set/06_lstm/ (five correct, W1 with
the forget gate missing from dc_prev, W2 reading the gates as i, f, o, g) and one disguised copy of
A2 (renamed, re-laid-out, commented, reordered: bench/similarity_eval.disguise). The report must
name W1's and W2's mistakes and nobody else's; similarity must flag the copy and no independent
pair. Screenshots of both pages go to test-artifacts/insight/.
"""

import importlib.util
import json
import random
import shutil

import pytest

from course import instructor
from course.programs import cli

from browser import ARTIFACTS as BROWSER_ARTIFACTS
from browser import chromium_or_skip, launch
from helpers import ROOT

pytestmark = pytest.mark.slow
UNIT = "06_lstm"
SET = ROOT / "bench" / "similarity_set" / UNIT
ARTIFACTS = BROWSER_ARTIFACTS.parent / "insight"


def _bench(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    to_notebooks = _bench("to_notebooks", ROOT / "bench" / "similarity_set" / "to_notebooks.py")
    evaluation = _bench("similarity_eval", ROOT / "bench" / "similarity_eval.py")
    root = tmp_path_factory.mktemp("insight") / "course"
    shutil.copytree(ROOT / "solutions" / UNIT, root / "solutions" / UNIT)
    shutil.copy(ROOT / "nbgrader_config.py", root)
    students = {path.stem: path.read_text() for path in sorted(SET.glob("*.py"))}
    names = [n[len("answer_") :] for n in _answer_ids()]
    copy, _ = evaluation.disguise(students["A2"], names, random.Random(3))
    students["copy_of_A2"] = copy
    for student, text in students.items():
        folder = root / "submitted" / student / UNIT
        folder.mkdir(parents=True)
        source = SET / f"{student}.py"
        if not source.exists():  # the disguised copy: written where fill() reads it
            source = folder / "answers.py"
            source.write_text(text)
        (folder / "lstm.ipynb").write_text(json.dumps(to_notebooks.fill(UNIT, source)))
        if source.parent == folder:
            source.unlink()
    results = dict(instructor.autograde(UNIT, root=root, workers=2, timeout=60))
    return root, results


def _answer_ids():
    (source,) = sorted((ROOT / "solutions" / UNIT).glob("*.ipynb"))
    nb = json.loads(source.read_text())
    return [
        c["metadata"]["nbgrader"]["grade_id"] for c in nb["cells"] if c["metadata"].get("nbgrader", {}).get("solution")
    ]


def test_the_class_is_graded_correct_work_full_marks_and_the_wrong_ones_less(graded):
    _, results = graded
    for student, r in results.items():
        full = r["score"] == r["max_score"] and not r.get("error")
        assert full == (not student.startswith("W")), f"{student}: {r['score']} / {r['max_score']} {r.get('error')}"


def test_the_report_names_each_wrong_students_mistake_and_nobody_elses(graded, capsys):
    root, _ = graded
    assert cli.main(["report", UNIT, "--json", "--course", str(root)]) == 0
    data = json.loads(capsys.readouterr().out)
    named = {s for m in data["mistakes"] for s in m["students"]}
    assert named == {"W1", "W2"}, data["mistakes"]
    texts = " | ".join(m["mistake"] for m in data["mistakes"])
    assert "forget" in texts and "order" in texts, texts


def test_similarity_flags_the_copy_and_no_independent_pair(graded, capsys):
    root, _ = graded
    assert cli.main(["similarity", UNIT, "--json", "--course", str(root)]) == 0
    pairs = json.loads(capsys.readouterr().out)
    flagged = {tuple(sorted((p["a"], p["b"]))) for p in pairs if p["flagged"]}
    assert flagged == {("A2", "copy_of_A2")}, flagged


def test_both_pages_in_chromium(graded):
    pw = chromium_or_skip()
    root, _ = graded
    assert cli.main(["report", UNIT, "--course", str(root)]) == 0
    assert cli.main(["similarity", UNIT, "--course", str(root)]) == 0
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with pw.sync_playwright() as p:
        browser = launch(p)
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        errors = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        for name in ("report", "similarity"):
            page.goto((root / "reports" / f"{name}-{UNIT}.html").as_uri())
            page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
            if name == "report":
                assert page.evaluate("[...document.images].every(i => i.complete && i.naturalWidth > 0)")
                assert "W1" in page.inner_text("body") and "W2" in page.inner_text("body")
            else:
                assert page.locator(".hl").count() > 0, "the matching code is highlighted"
        browser.close()
    assert not errors, errors
