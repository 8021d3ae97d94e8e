"""Fixtures of the grading tests: a fork server (test modules that need another kind define their own ``server``)."""

import pytest

from course.grading.forkserver import ForkServer


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A fork server for the module, sharing pytest's temporary folders with its children."""
    fs = ForkServer(tmp_path_factory.mktemp("forkserver"), shared=[tmp_path_factory.getbasetemp()])
    assert fs.ensure(), "the fork server did not start"
    yield fs
    fs.stop()
