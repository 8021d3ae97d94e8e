"""A graded notebook's Result and the GradingSettings it was graded under: each written and read in one place.

No grading here: the JSON forms the CLI prints, the worker writes, a Dask task carries and autograde
keeps, and what reading one back refuses.
"""

import json

import pytest

from course.grading import sandbox
from course.grading.results import Result, TestResult
from course.grading.settings import DEFAULTS, GradingSettings


def _graded():
    return Result(
        notebook="alice.ipynb",
        assignment="01_perceptron",
        score=2.0,
        max_score=5.0,
        tests=[
            TestResult("perceptron_predict", 2.0, 2.0),
            TestResult("perceptron_fit", 0.0, 3.0, "AssertionError: ...", ["perceptron.fit_bias_never_updated"]),
        ],
        isolation="bwrap",
        stages={"total": 3.5},
    )


def test_the_json_form_has_the_curriculums_keys_and_the_optional_ones_only_when_they_say_something():
    d = _graded().to_dict()
    assert list(d) == ["notebook", "assignment", "score", "max_score", "tests", "isolation", "stages"]
    assert d["tests"][0] == {"grade_id": "perceptron_predict", "score": 2.0, "max_score": 2.0, "error": None}
    assert d["tests"][1]["hints"] == ["perceptron.fit_bias_never_updated"], "a failed test's hint ids are kept"
    failed = Result("x.ipynb", None, error="not JSON").to_dict()
    always = {"notebook": "x.ipynb", "assignment": None, "score": 0.0, "max_score": 0.0, "tests": []}
    assert failed == always | {"error": "not JSON"}, "a notebook that could not be graded: the error, nothing else"


def test_a_result_read_back_from_its_json_is_the_same_result():
    r = _graded()
    r.worker, r.seconds, r.retried, r.notes = "tls://127.0.0.1:1 (host, pid 2)", 4.0, 1, ["a copied cell"]
    assert Result.from_dict(json.loads(json.dumps(r.to_dict()))) == r


def test_a_result_reads_like_its_json_dict():
    r = _graded()
    assert r["score"] == 2.0 and r.get("error") is None and "error" not in r and "isolation" in r
    assert r["tests"][1]["error"].startswith("AssertionError") and dict(r) == r.to_dict()


@pytest.mark.parametrize(
    "broken",
    [
        [],
        {"tests": {}},
        {"tests": [{"grade_id": 7, "score": 0, "max_score": 1, "error": None}]},
        {"tests": [{"grade_id": "t", "score": "1", "max_score": 1, "error": None}]},
        {"tests": [{"grade_id": "t", "score": 1, "max_score": 1, "error": None, "hints": "x.y"}]},
        {"score": float("nan")},
        {"max_score": True},
        {"error": 3},
        {"notes": "one"},
    ],
)
def test_a_malformed_json_form_is_refused_with_a_reason(broken):
    with pytest.raises(ValueError):
        Result.from_dict(broken)


def test_messages_read_back_are_bounded():
    r = Result.from_dict({"error": "x" * 10**6, "notes": ["n"] * 1000, "tests": []})
    assert len(r.error) <= 2000 and len(r.notes) <= 20


def test_marking_a_result_failed_zeroes_every_test():
    r = _graded().failed("stopped: grading took longer than the limit")
    assert r.score == 0 and all(t.score == 0 for t in r.tests) and r.error.startswith("stopped")


def test_the_settings_default_once_and_change_by_field():
    s = GradingSettings.of(None, timeout=30)
    assert (s.timeout, s.wall_timeout, s.limits) == (30, DEFAULTS.wall_timeout, sandbox.Limits())
    assert GradingSettings.of(s, no_isolation=True).timeout == 30
    with pytest.raises(TypeError):
        GradingSettings.of(None, timeuot=30)


def test_the_settings_read_back_from_their_json_are_the_same_settings():
    s = GradingSettings(timeout=5, wall_timeout=40, limits=sandbox.Limits(memory_mb=512, inodes=99), no_isolation=True)
    assert GradingSettings.from_dict(json.loads(json.dumps(s.to_dict()))) == s


def test_the_sandbox_limits_as_arguments_are_read_back_whole():
    limits = sandbox.Limits(memory_mb=512, cpu_s=7, nproc=9, fsize_mb=3, disk_mb=48, inodes=500)
    args = sandbox.command_args(limits, "/work", expose=["/x"])
    assert sandbox.parse_args([*args, "--", "python"]) == (limits, "/work", ["/x"], [], [], ["python"])
