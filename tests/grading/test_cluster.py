"""course.grading.cluster on its own (no scheduler): what a Dask worker does for itself.

The cluster itself, with real servers, is tests/system/test_dask.py.
"""

import json
import os
import pwd
import subprocess
import sys
import time

import pytest

from course.grading import cluster
from course.grading.batch import OWNER_FILE, remove_folders_of_dead_processes


def _dead_pid():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _folder(parent, name, owner, aged=True):
    path = parent / name
    path.mkdir()
    if owner is not None:
        (path / OWNER_FILE).write_text(str(owner))
    if aged:
        os.utime(path, (time.time() - 7200,) * 2)
    return path


def test_the_folders_of_killed_graders_are_removed_and_nothing_else(tmp_path):
    """A SIGKILLed Dask worker (or grader) leaves its folder: a later one removes it, once it is old."""
    prefix = cluster.FOLDER_PREFIX
    dead = _folder(tmp_path, f"{prefix}dead", _dead_pid())
    recent = _folder(tmp_path, f"{prefix}recent", _dead_pid(), aged=False)
    mine = _folder(tmp_path, f"{prefix}mine", os.getpid())
    unowned = _folder(tmp_path, f"{prefix}unowned", None)
    outside = _folder(tmp_path, "elsewhere", _dead_pid())
    link = tmp_path / f"{prefix}link"
    link.symlink_to(outside)

    remove_folders_of_dead_processes(prefix, tmp_path)

    assert not dead.exists(), "a dead grader's folder was kept"
    assert recent.is_dir(), "a folder changed a moment ago was removed (its grader may just be slow)"
    assert mine.is_dir(), "a live grader's folder was removed"
    assert unowned.is_dir(), "a folder that no grader made was removed"
    assert link.is_symlink() and (outside / OWNER_FILE).exists(), "a link was followed"


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


PASSWD = """root:x:0:0:root:/root:/bin/bash
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
sync:x:4:65534:sync:/bin:/bin/sync
postgres:x:101:104::/var/lib/postgresql:/bin/false
"""


def passwd_with(tmp_path, *lines):
    """A passwd file of system accounts, this user, and ``lines``."""
    path = tmp_path / f"passwd-{len(list(tmp_path.glob('passwd-*')))}"
    me = f"{pwd.getpwuid(os.getuid()).pw_name}:x:{os.getuid()}:{os.getgid()}::/home/me:/bin/bash\n"
    path.write_text(PASSWD + me + "".join(line + "\n" for line in lines))
    return str(path)


def test_plain_tcp_on_a_machine_with_another_login_account_is_warned(tmp_path):
    passwd = passwd_with(tmp_path, "alice:x:1001:1001::/home/alice:/bin/bash")
    for address in ("tcp://10.0.0.5:8786", "10.0.0.5:8786"):
        line = cluster.plain_tcp_warning(address, passwd=passwd, logged_in=[])
        assert line and "\n" not in line and "plain TCP" in line and "alice" in line and "tls://" in line, line


def test_plain_tcp_with_another_user_logged_in_is_warned(tmp_path):
    line = cluster.plain_tcp_warning("tcp://10.0.0.5:8786", passwd=passwd_with(tmp_path), logged_in=["bob"])
    assert line and "bob" in line, line


def test_no_warning_for_tls_local_or_a_machine_of_system_accounts_only(tmp_path):
    alone, shared = passwd_with(tmp_path), passwd_with(tmp_path, "alice:x:1001:1001::/home/alice:/bin/sh")
    me = pwd.getpwuid(os.getuid()).pw_name
    assert cluster.plain_tcp_warning("tcp://10.0.0.5:8786", passwd=alone, logged_in=[me, "root"]) is None
    for address in ("tls://10.0.0.5:8786", "local:2", "local", None):
        assert cluster.plain_tcp_warning(address, passwd=shared, logged_in=["bob"]) is None, address


def test_course_autograde_prints_the_warning_as_one_line_on_stderr(tmp_path, monkeypatch, capsys):
    from course.programs import cli

    monkeypatch.setattr(cluster, "PASSWD", passwd_with(tmp_path, "alice:x:1001:1001::/home/alice:/bin/bash"))
    cli.main(["autograde", "01_perceptron", "--scheduler", "tcp://127.0.0.1:9", "--course", str(tmp_path / "none")])
    first = capsys.readouterr().err.splitlines()[0]
    assert first.startswith("course autograde: warning: tcp://127.0.0.1:9 is plain TCP"), first
