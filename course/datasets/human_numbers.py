"""Human Numbers: the numbers 1 to 9,999 written in English words (fastbook, chapter 12).

fastai's ``URLs.HUMAN_NUMBERS`` ships two text files, ``train.txt`` (one to
eight thousand) and ``valid.txt`` (eight thousand one to nine thousand nine
hundred ninety nine), one number a line, with no "and" and no hyphens
("one hundred twenty one"). Nothing is downloaded here: the same words are
generated. As in fastbook, the lines are joined with ``" . "`` and the text is
split on spaces, so a stream of tokens reads

    one . two . three . ... . ninety nine . one hundred . one hundred one . ...

The vocabulary has 30 tokens, numbered in order of first appearance in
train + valid (fastbook's ``L(tokens).unique()``): ``one`` is 0, ``.`` is 1,
``two`` is 2, ... Next-token prediction on this stream is the language model
of the chapter; the task needs memory (is this the tens, the hundreds or the
thousands part?) but no world knowledge.

Typical use::

    from course.datasets.human_numbers import load, stateful_batches
    data = load()                                    # token ids as int64 arrays
    x, y = stateful_batches(data["train"], batch_size=64, seq_len=16)
    # x, y: (n_batches, 64, 16) LongTensors; row b of batch i+1 continues row b of batch i

Note: fastbook's chapter itself concatenates both files and cuts the *token
stream* at 80% of its 16-token chunks, which falls inside the number 8,082
(token 50,464 of 63,098): its training stream also holds 8,001-8,081, 81
numbers that begin "eight thousand". Here the split is the files' (1-8,000 /
8,001-9,999), so accuracies are comparable but not identical (the thousands
digit eight is, if anything, harder here).
"""

import numpy as np

__all__ = ["words", "tokens", "VOCAB", "encode", "decode", "load", "stateful_batches", "TRAIN_RANGE", "VALID_RANGE"]

TRAIN_RANGE = range(1, 8001)  # train.txt: 1 .. 8,000
VALID_RANGE = range(8001, 10000)  # valid.txt: 8,001 .. 9,999

_ONES = [
    "",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
]
_TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]


def words(n):
    """``n`` (1 <= n <= 9,999) in English words as fastai writes them: ``words(9121)`` is
    ``"nine thousand one hundred twenty one"`` (no "and", no hyphens)."""
    if not 1 <= n <= 9999:
        raise ValueError(f"Human Numbers covers 1..9999, got {n}")
    parts = []
    thousands, rest = divmod(n, 1000)
    hundreds, rest = divmod(rest, 100)
    if thousands:
        parts += [_ONES[thousands], "thousand"]
    if hundreds:
        parts += [_ONES[hundreds], "hundred"]
    if rest >= 20:
        parts.append(_TENS[rest // 10])
        rest %= 10
    if rest:
        parts.append(_ONES[rest])
    return " ".join(parts)


def tokens(numbers):
    """The token stream of ``numbers`` (an iterable of ints): their words joined by
    ``" . "`` and split on spaces, as fastbook does. A list of strings."""
    return " . ".join(words(n) for n in numbers).split(" ")


def _vocab():
    seen = {}
    for tok in tokens(range(1, 10000)):
        seen.setdefault(tok, len(seen))
    return list(seen)


VOCAB = _vocab()  # 30 tokens: ['one', '.', 'two', 'three', ..., 'hundred', 'thousand']
_INDEX = {w: i for i, w in enumerate(VOCAB)}


def encode(toks):
    """Token strings -> (L,) int64 ids into ``VOCAB``."""
    return np.array([_INDEX[t] for t in toks], dtype=np.int64)


def decode(ids):
    """Ids (any iterable of ints) -> a string of space-separated tokens."""
    return " ".join(VOCAB[int(i)] for i in ids)


def load():
    """The dataset as token ids: ``{"train": (L_train,) int64, "valid": (L_valid,) int64,
    "vocab": VOCAB}``; train covers 1..8,000 and valid 8,001..9,999 (each its own stream)."""
    return {"train": encode(tokens(TRAIN_RANGE)), "valid": encode(tokens(VALID_RANGE)), "vocab": VOCAB}


def stateful_batches(ids, batch_size, seq_len):
    """Next-token batches for stateful training (fastbook's ``group_chunks``).

    ids: (L,) token ids. The stream is cut into ``batch_size`` contiguous
    streams of equal length (the tail that does not fit is dropped), and each
    stream into chunks of ``seq_len`` tokens. Returns ``(x, y)``, two int64
    torch tensors of shape ``(n_batches, batch_size, seq_len)`` with
    ``y[i, b, t]`` the token after ``x[i, b, t]``, and ``x[i + 1, b, 0]`` the
    token after ``x[i, b, -1]``: a hidden state carried from batch ``i`` to
    batch ``i + 1`` (row by row) keeps reading the same text. Iterate over
    ``zip(x, y)`` for (batch_size, seq_len) pairs.
    """
    from course.interop import require_torch

    torch = require_torch("stateful_batches")
    ids = np.asarray(ids, dtype=np.int64)
    per_stream = (len(ids) - 1) // batch_size
    n_batches = per_stream // seq_len
    if n_batches == 0:
        raise ValueError(f"{len(ids)} tokens are too few for batch_size={batch_size}, seq_len={seq_len}")
    used = n_batches * seq_len
    starts = np.arange(batch_size) * per_stream
    idx = starts[:, None] + np.arange(used)[None, :]  # (B, used): stream b reads ids[starts[b]:]
    x = ids[idx].reshape(batch_size, n_batches, seq_len).transpose(1, 0, 2)
    y = ids[idx + 1].reshape(batch_size, n_batches, seq_len).transpose(1, 0, 2)
    return torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(np.ascontiguousarray(y))
