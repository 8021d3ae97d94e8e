"""The character corpus of unit 4: shipped with the course, the same text whatever Python runs it."""

import json

import pytest

from course.datasets import text as T

from helpers import ROOT


def test_the_corpus_is_the_shipped_file_and_the_one_the_saved_run_used():
    corpus = T.stdlib_corpus()
    assert corpus == T.CORPUS_FILE.read_text(encoding="utf-8")
    saved = json.loads((ROOT / "experiments" / "results" / "char_lm_traces.json").read_text())
    assert len(corpus) == saved["corpus_chars"], "lecture 4's saved LSTM run was trained on another corpus"


def test_the_corpus_has_every_module_in_sorted_order_and_a_small_alphabet():
    corpus = T.stdlib_corpus()
    headers = [line for line in corpus.splitlines() if line.startswith("# ---- ") and line.endswith(".py ----")]
    assert headers == [f"# ---- {name}.py ----" for name in sorted(T.STDLIB_MODULES)]
    assert set(corpus) <= T._KEEP and len(set(corpus)) < 100


def test_a_selection_of_modules_is_cut_from_the_same_text():
    two = T.stdlib_corpus(("heapq", "abc"))
    assert two.startswith("# ---- abc.py ----\n") and "\n# ---- heapq.py ----\n" in two
    assert two.split("\n# ---- heapq.py ----\n")[0] in T.stdlib_corpus()
    assert T.stdlib_corpus(max_chars=50) == T.stdlib_corpus()[:50]


def test_a_module_not_in_the_corpus_is_named():
    with pytest.raises(KeyError, match="not in the course's corpus: json"):
        T.stdlib_corpus(("abc", "json"))


def test_the_licence_ships_beside_the_corpus():
    licence = (T.CORPUS_FILE.parent / "PYTHON_LICENSE.txt").read_text(encoding="utf-8")
    assert "PYTHON SOFTWARE FOUNDATION LICENSE VERSION 2" in licence
