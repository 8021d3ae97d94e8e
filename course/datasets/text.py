"""An offline character corpus and a character vocabulary (unit 4: language models).

The corpus is Python source code: a fixed, sorted selection of pure-Python
modules of the standard library (``Lib/*.py`` of the running interpreter,
found through ``sysconfig``), concatenated in that order. Nothing is
downloaded, and with the course's pinned Python (3.11) the text is the same
on every machine: about 210,000 characters.

Licence: the files are part of CPython, Copyright (c) 2001-2023 Python
Software Foundation; All Rights Reserved; distributed under the Python
Software Foundation License Version 2 (https://docs.python.org/3/license.html).
The corpus is read from the user's own Python installation and is not
redistributed with the course.

Typical use::

    from course.datasets.text import stdlib_corpus, CharVocab, split_ids, random_windows
    text = stdlib_corpus()
    vocab = CharVocab.from_text(text)
    train_ids, val_ids = split_ids(vocab.encode(text))
    x, y = random_windows(train_ids, batch_size=32, seq_len=64, rng=0)  # y is x shifted by one
"""

import os
import sysconfig

import numpy as np

# Small, self-contained, mostly-ASCII modules; sorted, so the corpus order is fixed.
STDLIB_MODULES = (
    "abc",
    "bisect",
    "colorsys",
    "copy",
    "fnmatch",
    "getopt",
    "glob",
    "graphlib",
    "heapq",
    "hmac",
    "keyword",
    "numbers",
    "operator",
    "queue",
    "reprlib",
    "sched",
    "shlex",
    "stat",
    "string",
    "textwrap",
    "timeit",
    "token",
    "types",
)

# Characters kept as they are; anything else (rare non-ASCII letters) becomes "?".
_KEEP = set(chr(c) for c in range(32, 127)) | {"\n"}


def stdlib_dir():
    """The folder of the running interpreter's standard library (``Lib/``)."""
    return sysconfig.get_paths()["stdlib"]


def stdlib_corpus(modules=STDLIB_MODULES, max_chars=None):
    """The text of ``modules`` (names of ``Lib/<name>.py``), concatenated in sorted order.

    Tabs become four spaces and characters outside printable ASCII become
    "?", so the vocabulary is small (about 95 characters). Each file is
    preceded by a ``# ---- <name>.py ----`` line. ``max_chars`` cuts the result.
    Returns a str. A module missing from this Python raises FileNotFoundError.
    """
    parts = []
    for name in sorted(modules):
        path = os.path.join(stdlib_dir(), name + ".py")
        with open(path, encoding="utf-8") as f:
            src = f.read().replace("\t", "    ")
        parts.append(f"# ---- {name}.py ----\n" + "".join(c if c in _KEEP else "?" for c in src))
    text = "\n".join(parts)
    return text if max_chars is None else text[:max_chars]


class CharVocab:
    """A character vocabulary: ``chars[i]`` is the character of id ``i`` (sorted by code point)."""

    def __init__(self, chars):
        self.chars = list(chars)
        self.index = {c: i for i, c in enumerate(self.chars)}
        if len(self.index) != len(self.chars):
            raise ValueError("characters of a vocabulary must be distinct")

    @classmethod
    def from_text(cls, text):
        """The sorted set of characters of ``text``."""
        return cls(sorted(set(text)))

    @property
    def size(self):
        return len(self.chars)

    def __len__(self):
        return len(self.chars)

    def encode(self, text):
        """str -> (len(text),) int64 array of ids; a character not in the vocabulary raises KeyError."""
        return np.fromiter((self.index[c] for c in text), dtype=np.int64, count=len(text))

    def decode(self, ids):
        """Sequence of ids -> str."""
        return "".join(self.chars[int(i)] for i in np.asarray(ids).ravel())


def split_ids(ids, val_fraction=0.1):
    """(train, val): the first ``1 - val_fraction`` of ``ids`` and the rest (no shuffling: held-out text)."""
    ids = np.asarray(ids)
    cut = int(round(len(ids) * (1.0 - val_fraction)))
    return ids[:cut], ids[cut:]


def random_windows(ids, batch_size, seq_len, rng=0):
    """A batch of random windows for next-character prediction.

    Returns x (batch_size, seq_len) and y (batch_size, seq_len), int64, where
    ``y[n, t]`` is the character that follows ``x[n, t]`` in the text (``y`` is
    ``x`` shifted one character to the left). ``rng`` a Generator or a seed.
    """
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    ids = np.asarray(ids)
    starts = rng.integers(0, len(ids) - seq_len - 1, size=batch_size)
    idx = starts[:, None] + np.arange(seq_len + 1)
    windows = ids[idx]
    return windows[:, :-1], windows[:, 1:]


def stream_chunks(ids, batch_size, seq_len):
    """Consecutive chunks for truncated BPTT with a carried-over hidden state.

    The text is cut into ``batch_size`` contiguous streams (row n reads its own
    part of the text from start to end); yields ``(x, y)`` chunks of shape
    ``(batch_size, seq_len)`` in order, so chunk k+1 of row n continues exactly
    where chunk k of row n stopped. ``y`` is ``x`` shifted by one character.
    """
    ids = np.asarray(ids)
    per_row = (len(ids) - 1) // batch_size
    rows_x = ids[: per_row * batch_size].reshape(batch_size, per_row)
    rows_y = ids[1 : per_row * batch_size + 1].reshape(batch_size, per_row)
    for start in range(0, per_row - seq_len + 1, seq_len):
        yield rows_x[:, start : start + seq_len], rows_y[:, start : start + seq_len]
