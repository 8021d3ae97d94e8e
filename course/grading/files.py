"""Reading a file another account could have written: never through a link, never unbounded.

The one home of safe reads, used on both sides of the engine: the batch and the Dask client read
submissions (:mod:`course.grading.submission`, :mod:`course.grading.cluster`), the worker reads
what nbgrader wrote next to the student's kernel, and the instructor's tools read the exchange's
copies, results and logs (:mod:`course.instructor.intake`, :mod:`course.instructor.feedback`).

A file is opened with ``O_NOFOLLOW`` (a link in its place is refused, not followed) and
``O_NONBLOCK`` (a FIFO in its place does not hang the reader), then checked on the open
descriptor (``fstat``: no window between the check and the read), and read to at most its limit
plus one byte (the size ``fstat`` gave may grow while it is read).
"""

import errno
import os
import stat

#: Flags of every open here: no link followed, no FIFO waited for, not inherited by a child.
NO_FOLLOW = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


class Refused(ValueError):
    """A file not read: its message says why (``"a symbolic link (links are never followed)"``)."""


class TooBig(Refused):
    """A file over the limit; ``size``: its size in bytes (at least ``limit + 1``)."""

    def __init__(self, size, limit):
        super().__init__(f"{size / 2**20:.0f} MiB, over the limit of {limit / 2**20:g} MiB")
        self.size, self.limit = size, limit


def open_regular(path, dir_fd=None, single_link=False):
    """A descriptor of ``path`` (relative to ``dir_fd`` if given) and its ``os.stat_result``, if it is
    a regular file reached without a link in its last part; else :class:`Refused`.

    single_link: refuse a file with other hard links too (another name of a file elsewhere).
    The caller closes the descriptor.
    """
    try:
        fd = os.open(path, NO_FOLLOW, dir_fd=dir_fd)
    except OSError as e:
        if e.errno == errno.ELOOP:  # the last component is a symbolic link
            raise Refused("a symbolic link (links are never followed)") from None
        raise Refused(f"cannot be read: {e.strerror}") from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        reason = "not a regular file"
    elif single_link and st.st_nlink > 1:
        reason = "a hard link (another name of a file elsewhere); not copied"
    else:
        return fd, st
    os.close(fd)
    raise Refused(reason)


def read_regular(path, limit, dir_fd=None, single_link=False, with_stat=False):
    """The bytes of the regular file ``path`` (see :func:`open_regular`), at most ``limit`` of them:
    :class:`TooBig` beyond. ``with_stat``: ``(bytes, os.stat_result)``."""
    fd, st = open_regular(path, dir_fd, single_link)
    with os.fdopen(fd, "rb") as f:
        data = f.read(limit + 1) if st.st_size <= limit else b""  # read, not only fstat: it may still grow
    if st.st_size > limit or len(data) > limit:
        raise TooBig(max(st.st_size, len(data)), limit)
    return (data, st) if with_stat else data


def read_or_none(path, limit):
    """:func:`read_regular`, or None for a file that is absent, a link, not regular or too big."""
    try:
        return read_regular(path, limit)
    except Refused:
        return None


def read_head(path, limit):
    """At most ``limit + 1`` bytes of the regular file ``path`` (no link followed), b"" when it cannot be
    read: for a reader that refuses what is over ``limit`` itself, with its own message."""
    try:
        fd, _ = open_regular(path)
    except Refused:
        return b""
    with os.fdopen(fd, "rb") as f:
        return f.read(limit + 1)
