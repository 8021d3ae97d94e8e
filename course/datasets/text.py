"""An offline character corpus and a character vocabulary (unit 4: language models).

The corpus is Python source code: a fixed, sorted selection of pure-Python
modules of the standard library, concatenated in that order: 207,561
characters. It ships with the course (``data/python_stdlib_corpus.txt``, made
by :func:`make_stdlib_corpus` from CPython 3.11.7's ``Lib/``), so the text is
the same on every machine: read from the running interpreter instead, it
differed between Python 3.11 patch releases, and the saved experiments would
not match it.

Licence: the files are part of CPython, Copyright (c) 2001-2023 Python
Software Foundation; All Rights Reserved; distributed under the Python
Software Foundation License Version 2 (https://docs.python.org/3/license.html);
its text is ``data/PYTHON_LICENSE.txt`` beside the corpus.

Typical use::

    from course.datasets.text import stdlib_corpus, CharVocab, split_ids, random_windows
    text = stdlib_corpus()
    vocab = CharVocab.from_text(text)
    train_ids, val_ids = split_ids(vocab.encode(text))
    x, y = random_windows(train_ids, batch_size=32, seq_len=64, rng=0)  # y is x shifted by one
"""

import os
import re
import sysconfig
from pathlib import Path

import numpy as np

#: The shipped corpus: make_stdlib_corpus() of CPython 3.11.7 (see the module's docstring).
CORPUS_FILE = Path(__file__).with_name("data") / "python_stdlib_corpus.txt"

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


def _header(name):
    return f"# ---- {name}.py ----\n"


def make_stdlib_corpus(lib_dir=None, modules=STDLIB_MODULES):
    """The corpus made from ``lib_dir`` (a ``Lib/`` folder; the running interpreter's by default):
    ``Lib/<name>.py`` of ``modules`` in sorted order, each preceded by a ``# ---- <name>.py ----``
    line, joined with newlines. Tabs become four spaces and characters outside printable ASCII
    become "?", so the vocabulary is small (about 95 characters). How CORPUS_FILE was made."""
    parts = []
    for name in sorted(modules):
        with open(os.path.join(lib_dir or stdlib_dir(), name + ".py"), encoding="utf-8") as f:
            src = f.read().replace("\t", "    ")
        parts.append(_header(name) + "".join(c if c in _KEEP else "?" for c in src))
    return "\n".join(parts)


def stdlib_corpus(modules=STDLIB_MODULES, max_chars=None):
    """The shipped corpus (CORPUS_FILE), or the part of it made of ``modules`` (names from
    STDLIB_MODULES), as :func:`make_stdlib_corpus` joins them; ``max_chars`` cuts the result.
    Returns a str. A module not in the corpus raises KeyError."""
    text = CORPUS_FILE.read_text(encoding="utf-8")
    starts = [(m.start(), m.group(1)) for m in re.finditer(r"^# ---- (\w+)\.py ----\n", text, re.M)]
    ends = [start - 1 for start, _ in starts[1:]] + [len(text)]  # (less the newline that joins them)
    parts = {name: text[start:end] for (start, name), end in zip(starts, ends)}
    missing = sorted(set(modules) - set(parts))
    if missing:
        raise KeyError(f"not in the course's corpus: {', '.join(missing)}; its modules: {', '.join(sorted(parts))}")
    text = "\n".join(parts[name] for name in sorted(modules))
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
