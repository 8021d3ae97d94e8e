"""course.grading.cluster on its own (no scheduler): what a Dask worker does for itself.

The cluster itself, with real servers, is tests/test_dask.py.
"""

import json
import os
import subprocess
import sys

import pytest

from course.grading import cluster


def _dead_pid():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_the_folders_of_killed_workers_are_removed_and_nothing_else(tmp_path):
    """A SIGKILLed Dask worker leaves its folder (sources, its Grader's folder): the next worker removes it."""
    dead = tmp_path / f"{cluster.FOLDER_PREFIX}{_dead_pid()}-abc"
    (dead / "solutions").mkdir(parents=True)
    mine = tmp_path / f"{cluster.FOLDER_PREFIX}{os.getpid()}-def"
    mine.mkdir()
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "keep.txt").write_text("kept")
    link = tmp_path / f"{cluster.FOLDER_PREFIX}{_dead_pid()}-lnk"
    link.symlink_to(outside)
    other = tmp_path / "course-dask-notapid-x"
    other.mkdir()

    cluster._remove_folders_of_dead_workers(tmp_path)

    assert not dead.exists(), "a dead worker's folder was kept"
    assert mine.is_dir(), "a live worker's folder was removed"
    assert link.is_symlink() and (outside / "keep.txt").read_text() == "kept", "a link was followed"
    assert other.is_dir()


def test_a_worker_of_another_version_is_refused_with_what_differs():
    expected = dict(cluster.versions(), course="0.0.0-other")
    wrong = r"course [^ ]+ \(the client has 0\.0\.0-other\).*install the same"
    with pytest.raises(cluster.VersionMismatch, match=wrong):
        cluster.check_versions(expected)


def test_a_separate_cluster_started_with_the_config_environment_gets_the_cluster_config():
    """The README starts `dask scheduler` / `dask worker` with these variables: Dask must read them back."""
    keys = list(cluster.CLUSTER_CONFIG)
    probe = f"import dask.config, distributed, json; print(json.dumps([dask.config.get(k) for k in {keys!r}]))"
    env = dict(os.environ, **cluster.config_environment())
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True).stdout
    assert json.loads(out) == list(cluster.CLUSTER_CONFIG.values())
