"""The engine's shared helpers: reading a line with a deadline, and reading a file another account wrote."""

import os
import socket
import time

import pytest

from course.grading import files, processes


def test_a_line_that_never_comes_times_out_at_the_deadline():
    a, b = socket.socketpair()
    with a, b:
        start = time.monotonic()
        with pytest.raises(TimeoutError):
            processes.read_line(a, start + 0.2)
        assert time.monotonic() - start < 2, "read_line waited far past its deadline"


def test_a_line_is_read_whole_and_nothing_after_it():
    a, b = socket.socketpair()
    with a, b:
        b.sendall(b"ready\nexit 0\n")
        assert processes.read_line(a, time.monotonic() + 5) == "ready"
        assert processes.read_line(a, time.monotonic() + 5) == "exit 0", "the next line stays for its reader"


def test_a_closed_peer_or_an_endless_line_is_an_error_not_a_hang():
    a, b = socket.socketpair()
    with a:
        b.close()
        with pytest.raises(OSError, match="closed"):
            processes.read_line(a, time.monotonic() + 5)
    a, b = socket.socketpair()
    with a, b:
        b.sendall(b"x" * 1000)
        with pytest.raises(OSError, match="too long"):
            processes.read_line(a, time.monotonic() + 5, limit=64)


def test_a_socket_in_a_folder_deeper_than_107_bytes_is_reached(tmp_path):
    deep = tmp_path.joinpath(*["a-rather-long-folder-name"] * 6)
    deep.mkdir(parents=True)
    path = str(deep / "s.sock")
    assert len(path) > 107
    server, client = socket.socket(socket.AF_UNIX), socket.socket(socket.AF_UNIX)
    with server, client:
        processes.socket_address(server, path, bind=True)
        server.listen(1)
        processes.socket_address(client, path)
        assert os.path.exists(path)


def test_a_link_a_fifo_or_a_folder_is_refused_with_its_reason(tmp_path):
    (tmp_path / "real").write_bytes(b"data")
    (tmp_path / "link").symlink_to(tmp_path / "real")
    os.mkfifo(tmp_path / "fifo")  # (opened without O_NONBLOCK, it would hang the reader)
    for name, why in (("link", "symbolic link"), ("fifo", "not a regular file"), (".", "not a regular file")):
        with pytest.raises(files.Refused, match=why):
            files.read_regular(tmp_path / name, 100)
    assert files.read_regular(tmp_path / "real", 100) == b"data"


def test_a_file_over_the_limit_is_refused_and_says_its_size(tmp_path):
    (tmp_path / "big").write_bytes(b"x" * 3 * 2**20)
    with pytest.raises(files.TooBig, match="3 MiB, over the limit of 1 MiB") as e:
        files.read_regular(tmp_path / "big", 2**20)
    assert e.value.size == 3 * 2**20
    assert files.read_or_none(tmp_path / "big", 2**20) is None


def test_a_hard_link_is_refused_where_only_a_single_name_is_allowed(tmp_path):
    (tmp_path / "a").write_bytes(b"data")
    os.link(tmp_path / "a", tmp_path / "b")
    with pytest.raises(files.Refused, match="hard link"):
        files.read_regular(tmp_path / "b", 100, single_link=True)
    assert files.read_regular(tmp_path / "b", 100) == b"data"


def test_a_fifo_in_place_of_a_submission_does_not_hang_the_dask_client(tmp_path):
    from course.grading.cluster import _read_bounded

    os.mkfifo(tmp_path / "submission.ipynb")
    assert _read_bounded(tmp_path / "submission.ipynb") == b"", "nothing to read: the worker says it is empty"
