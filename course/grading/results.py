"""The result of grading one notebook: :class:`Result`, its tests :class:`TestResult`; one home.

Built by the engine (:mod:`course.grading.worker` for a graded notebook, :mod:`course.grading.batch`
for one that could not be, :mod:`course.grading.cluster` adding where it ran), returned by
``grade_notebooks``, ``grade_on_cluster`` and the instructor's ``autograde``. Its JSON form is
written and read here only (:meth:`Result.to_dict`, :meth:`Result.from_dict`): ``course grade
--json`` prints it, the worker's ``result.json`` and a Dask task carry it, ``course autograde``
keeps it beside each autograded notebook (``course-results.json``) for feedback and the report.
The shape (../shared/CURRICULUM.md)::

    {"notebook": "path", "assignment": "06_lstm", "score": 7.0, "max_score": 10.0,
     "tests": [{"grade_id": "lstm_step_forward", "score": 0.0, "max_score": 2.0,
                "error": "short message or null", "hints": ["lstm.dc_prev_without_f"]}],
     "error": "why it could not be graded", "isolation": "bwrap", "notes": ["..."],
     "stages": {"nbgrader": 3.1, "verify": 0.4, "total": 3.6},
     "worker": "tls://... (host, pid 12)", "seconds": 3.9, "retried": 1}

``notebook .. tests`` are always there; the others only when they say something (an ``error``
only for a notebook that could not be graded, a test's ``hints`` only when its message named a
mistake: the ids of :mod:`course.checks.hints`). A result reads like that dict too
(``result["score"]``, ``result.get("error")``: a read-only view of :meth:`to_dict`), so code
written for the JSON form reads it unchanged.

:meth:`Result.from_dict` is the one reader of the JSON form, and it trusts nothing: a result
file cut short, a grader's stand-in, a field of the wrong type is a :class:`ValueError`, which
its callers turn into that submission's "could not be graded".
"""

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

#: A message kept in a result (the worker bounds its own far below; this bounds what is read back).
MAX_MESSAGE_CHARS = 2000
#: Notes and hint ids kept per result and per test.
MAX_ITEMS = 20


@dataclass
class TestResult:
    """One test cell: its ``score`` of ``max_score``, why it failed (``error``), the hints it gave."""

    __test__ = False  # (not a test class, for pytest)

    grade_id: str
    score: float
    max_score: float
    error: str | None = None
    hints: list[str] = field(default_factory=list)

    def to_dict(self):
        d = {"grade_id": self.grade_id, "score": self.score, "max_score": self.max_score, "error": self.error}
        return d | ({"hints": list(self.hints)} if self.hints else {})

    @classmethod
    def from_dict(cls, d):
        if not isinstance(d, Mapping):
            raise ValueError(f"a test is {type(d).__name__}, not an object")
        return cls(
            grade_id=_text(d.get("grade_id"), "grade_id", 200),
            score=_number(d.get("score"), "score"),
            max_score=_number(d.get("max_score"), "max_score"),
            error=_optional_text(d.get("error"), "error"),
            hints=_texts(d.get("hints"), "hints", 200),
        )


@dataclass
class Result(Mapping):
    """A graded notebook (or one that could not be graded: ``error``); see the module's docstring."""

    notebook: str | None
    assignment: str | None
    score: float = 0.0
    max_score: float = 0.0
    tests: list[TestResult] = field(default_factory=list)
    error: str | None = None
    isolation: str | None = None
    notes: list[str] = field(default_factory=list)
    stages: dict[str, float] = field(default_factory=dict)
    worker: str | None = None
    seconds: float | None = None
    retried: int = 0

    def failed(self, error):
        """Mark it as not graded: ``error`` says why, every test scores 0."""
        self.error, self.score = error, 0.0
        for t in self.tests:
            t.score = 0.0
        return self

    def to_dict(self):
        """The JSON form (a new dict; the optional keys only when they say something)."""
        d = {
            "notebook": self.notebook,
            "assignment": self.assignment,
            "score": self.score,
            "max_score": self.max_score,
            "tests": [t.to_dict() for t in self.tests],
        }
        optional = {
            "error": self.error,
            "isolation": self.isolation,
            "notes": list(self.notes),
            "stages": dict(self.stages),
            "worker": self.worker,
            "seconds": self.seconds,
            "retried": self.retried,
        }
        return d | {k: v for k, v in optional.items() if v not in (None, [], {}, 0)}

    @classmethod
    def from_dict(cls, d):
        """A Result from its JSON form, every field checked; ValueError says what is wrong."""
        if isinstance(d, Result):
            return d
        if not isinstance(d, Mapping):
            raise ValueError(f"the result is {type(d).__name__}, not an object")
        tests = d.get("tests", [])
        if not isinstance(tests, list):
            raise ValueError("its tests are not a list")
        stages = d.get("stages") or {}
        return cls(
            notebook=_optional_text(d.get("notebook"), "notebook", 4096),
            assignment=_optional_text(d.get("assignment"), "assignment"),
            score=_number(d.get("score", 0.0), "score"),
            max_score=_number(d.get("max_score", 0.0), "max_score"),
            tests=[TestResult.from_dict(t) for t in tests],
            error=_optional_text(d.get("error"), "error"),
            isolation=_optional_text(d.get("isolation"), "isolation"),
            notes=_texts(d.get("notes"), "notes"),
            # (where the time went: for a benchmark; anything else in it is dropped, not an error)
            stages={str(k): float(v) for k, v in stages.items() if isinstance(v, int | float)}
            if isinstance(stages, Mapping)
            else {},
            worker=_optional_text(d.get("worker"), "worker"),
            seconds=None if d.get("seconds") is None else _number(d.get("seconds"), "seconds"),
            retried=int(_number(d.get("retried", 0), "retried")),
        )

    # -- a read-only view of the JSON form, for code written for it (result["score"])
    def __getitem__(self, key):
        return self.to_dict()[key]

    def __iter__(self):
        return iter(self.to_dict())

    def __len__(self):
        return len(self.to_dict())


def _number(value, what):
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{what} is {value!r}, not a number")
    return float(value)


def _text(value, what, limit=MAX_MESSAGE_CHARS):
    if not isinstance(value, str):
        raise ValueError(f"{what} is {type(value).__name__}, not text")
    return value[:limit]


def _optional_text(value, what, limit=MAX_MESSAGE_CHARS):
    return None if value is None else _text(value, what, limit)


def _texts(value, what, limit=MAX_MESSAGE_CHARS):
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValueError(f"{what} is {type(value).__name__}, not a list")
    return [_text(v, what, limit) for v in value[:MAX_ITEMS]]
