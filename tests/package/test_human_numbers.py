"""Human Numbers is generated as fastai ships it, and its batches continue row by row."""

import numpy as np
import pytest

from course.datasets import human_numbers as hn


def test_words_spelling():
    assert hn.words(1) == "one"
    assert hn.words(14) == "fourteen"
    assert hn.words(40) == "forty"
    assert hn.words(99) == "ninety nine"
    assert hn.words(100) == "one hundred"
    assert hn.words(101) == "one hundred one"
    assert hn.words(1000) == "one thousand"
    assert hn.words(1010) == "one thousand ten"
    assert hn.words(8000) == "eight thousand"
    assert hn.words(9121) == "nine thousand one hundred twenty one"
    assert hn.words(9999) == "nine thousand nine hundred ninety nine"
    for bad in (0, 10000, -3):
        with pytest.raises(ValueError):
            hn.words(bad)


def test_vocab_is_fastbooks():
    # fastbook prints L(tokens).unique(): 30 tokens in order of first appearance
    assert len(hn.VOCAB) == 30
    assert hn.VOCAB[:5] == ["one", ".", "two", "three", "four"]
    assert hn.VOCAB[-3:] == ["ninety", "hundred", "thousand"]


def test_tokens_and_split():
    assert hn.tokens([1, 2, 21]) == ["one", ".", "two", ".", "twenty", "one"]
    data = hn.load()
    assert hn.decode(data["train"][:7]) == "one . two . three . four"
    assert hn.decode(data["train"][-2:]) == "eight thousand"
    assert hn.decode(data["valid"][:3]) == "eight thousand one"
    assert hn.decode(data["valid"][-6:]) == "nine thousand nine hundred ninety nine"
    # every number contributes its words plus one separator between numbers
    n_words = sum(len(hn.words(n).split()) for n in hn.TRAIN_RANGE)
    assert len(data["train"]) == n_words + len(hn.TRAIN_RANGE) - 1
    assert data["train"].dtype == np.int64


def test_stateful_batches_continue_row_by_row():
    ids = np.arange(1000) % 30
    x, y = hn.stateful_batches(ids, batch_size=4, seq_len=5)
    assert x.shape == y.shape and x.shape[1:] == (4, 5)
    assert (y[:, :, :-1] == x[:, :, 1:]).all()  # y is x shifted by one
    assert (x[1:, :, 0] == y[:-1, :, -1]).all()  # batch i+1 continues batch i, row by row
    stream = np.arange(1000)
    xs, _ = hn.stateful_batches(stream, 4, 5)
    row0 = xs[:, 0].reshape(-1).numpy()
    assert (row0 == np.arange(len(row0))).all()  # row 0 reads the stream from the start
    assert len(set(xs[0, :, 0].tolist())) == 4  # rows start at different places
    with pytest.raises(ValueError):
        hn.stateful_batches(np.arange(10), 4, 5)
