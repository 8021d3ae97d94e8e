"""Hints with stable identities: every named mistake a check can tell a student, with its id.

A hint is defined once, beside its text, in the checks module of its unit::

    DC_WITHOUT_F = hint("lstm.dc_prev_without_f", "dc_prev must be dc * f: the gradient ...")

:func:`hint` returns a :class:`Hint`: a ``str`` (messages are built from it as from any string)
that knows its ``id``. A text with ``{fields}`` is filled with ``.format(...)``, which returns
a plain string. Ids are ``unit.mistake`` (lower case, digits, ``_``), unique in the course.

The grader learns which hints a failed test gave with :func:`identify`: the test's error
message is matched against every registered text (its literal parts in order; a ``{field}``
stands for any text). Nothing but the message crosses from the checks to the result, so a
hint id is recorded the same way in every grading mode, and a hostile message can at most
name hints of its own test. Matching is plain ``str.find`` -- linear in the message, no
regular expression a crafted message could make backtrack.
"""

import importlib
import pkgutil
import re
import string

ID_FORMAT = re.compile(r"[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*")
#: Literal characters a hint's text must have besides its fields, so that it cannot match by chance.
MIN_LITERAL = 20
#: The longest message :func:`identify` reads (a test's error message is bounded long before).
MAX_MESSAGE = 20_000

#: id -> Hint, every hint of every checks module imported so far (:func:`all_hints` imports them all).
REGISTRY = {}


class Hint(str):
    """A hint's text (a ``str``), with its stable ``id``."""

    __slots__ = ("id",)

    def __new__(cls, hint_id, text):
        self = super().__new__(cls, text)
        self.id = hint_id
        return self

    def __reduce__(self):  # pickles (a Dask task, a copy) as the plain text
        return (str, (str(self),))

    def chunks(self):
        """The literal parts of the text, in order: what a message must contain to have given it."""
        parts = [literal for literal, _, _, _ in string.Formatter().parse(self)]
        return [p.replace("{{", "{").replace("}}", "}") for p in parts if p]


def hint(hint_id, text):
    """Register and return the hint ``hint_id`` with ``text`` (``{fields}`` filled later by ``.format``)."""
    if not ID_FORMAT.fullmatch(hint_id):
        raise ValueError(f"hint id {hint_id!r}: write it as unit.mistake (lower case, digits, _)")
    h = Hint(hint_id, text)
    if sum(map(len, h.chunks())) < MIN_LITERAL:
        raise ValueError(f"hint {hint_id!r}: its text has too few words of its own to be recognised")
    known = REGISTRY.get(hint_id)
    if known is not None and str(known) != text:
        raise ValueError(f"hint id {hint_id!r} is given to two different texts")
    REGISTRY[hint_id] = h
    return h


def _spans(chunks, message):
    """Where ``message`` holds ``chunks`` in order, first place: one (start, end) per chunk, or None."""
    spans, end = [], 0
    for chunk in chunks:
        at = message.find(chunk, end)
        if at < 0:
            return None
        end = at + len(chunk)
        spans.append((at, end))
    return spans


def identify(message, hints=None):
    """The ids of the hints ``message`` gave, in the order they appear in it.

    A hint found inside a literal part of another (a short text that a longer one contains
    word for word) is not counted twice; one found inside another's ``{field}`` is its own hint
    (a message that quotes another, as "fix your forward first (...)" does) and is counted.
    ``hints``: the candidates (default: every hint of the course).
    """
    message = str(message)[:MAX_MESSAGE]
    found = []
    for h in (all_hints() if hints is None else hints).values():
        spans = _spans(h.chunks(), message)
        if spans is not None:
            found.append((spans, h.id))

    def inside(spans, other):  # the whole match of one within a single literal part of the other's
        start, end = spans[0][0], spans[-1][1]
        return spans is not other and any(s <= start and end <= e and e - s > end - start for s, e in other)

    kept = [(spans[0][0], i) for spans, i in found if not any(inside(spans, other) for other, _ in found)]
    return [i for _, i in sorted(kept)]


def all_hints():
    """Every hint of the course: imports each checks module once (they register theirs).

    Where torch is missing (the student's install of units 1-8), the modules of units 9-11, which
    need it, are left out: their checks, and so their hints, cannot run there."""
    import course.checks as package
    from course.interop import TorchMissing

    for info in pkgutil.iter_modules(package.__path__):
        if not info.name.startswith("_"):
            try:
                importlib.import_module(f"course.checks.{info.name}")
            except TorchMissing:
                pass
    return REGISTRY
