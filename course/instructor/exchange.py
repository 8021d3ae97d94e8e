"""The course's nbgrader exchange on a shared machine: submissions authenticated by the operating system.

nbgrader's shared-folder exchange files a submission in ``<exchange>/<course>/inbound/`` as a folder
``<student>+<unit>+<time>+<random>`` holding the notebooks and ``timestamp.txt``: the student's
name and hand-in time are words in a name and a file that whoever submits writes. Its collect only
warns ("cheating attempt?") when the folder's owner differs, and keeps the time it was told.

:class:`AuthenticatedCollect` (``c.ExchangeFactory.collect``, deploy/jupyterhub/etc-jupyter/) collects
only what the named student's account wrote, and the time the file system recorded:

* each inbound entry is opened with ``O_NOFOLLOW`` and checked on its descriptor (``fstat``): a
  folder owned by ``pwd.getpwnam(student).pw_uid``, else it is refused, one line naming it and its
  writer, and never collected; inside it, every file and folder is read through descriptors
  opened the same way, and a link, a special file or a file another account owns is left out
  and named (never followed: collected as root, a link would copy anyone's files);
* the hand-in time is the latest ``st_ctime`` of the entry and what was read from it, which no
  unprivileged account can set; ``timestamp.txt`` is only the student's word: written over in
  ``submitted/``, and reported when it differs by more than :data:`TOLERANCE`.

:func:`read_entry` is that check and copy, for any caller that reads the exchange's inbound.
:func:`prepare_course_folders` makes a course's folders in the exchange, the instructor's, before
any student can (``course hub``).
"""

import errno
import fnmatch
import os
import pwd
import secrets
import shutil
import stat
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from dateutil.tz import gettz
from nbgrader.api import MissingEntry
from nbgrader.exchange.default.collect import ExchangeCollect, groupby
from nbgrader.utils import parse_utc

from course.instructor import gradebook

#: nbgrader's modes for a course's folders (its release_assignment and release_feedback), and the sticky
#: bit on inbound: nobody removes or renames another's submission there, even knowing its name.
FOLDERS = {"": 0o755, "outbound": 0o755, "inbound": 0o3733, "feedback": 0o711}
#: How far ``timestamp.txt`` may lie from the file system's time before it is reported.
TOLERANCE = timedelta(seconds=60)
MAX_ITEMS = 10_000  # files and folders in one entry
MAX_DEPTH = 16
_OPEN = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC


class Refused(Exception):
    """An inbound entry that is not collected; the message says why, in one line."""


@dataclass
class Rules:
    """What of an entry is copied: nbgrader's ``CourseDirectory`` include/ignore globs and size limits (bytes)."""

    include: list = field(default_factory=lambda: ["*"])
    ignore: list = field(default_factory=list)
    max_file: int = 100_000_000
    max_total: int = 100_000_000

    @classmethod
    def of(cls, coursedir):
        return cls(
            list(coursedir.include),
            list(coursedir.ignore),
            1000 * coursedir.max_file_size,
            1000 * coursedir.max_dir_size,
        )


@dataclass
class Entry:
    """One inbound entry, read: its student, the time the OS recorded, what the student claimed, what was left out."""

    name: str
    student: str
    ctime_ns: int = 0
    claimed: str = ""  # timestamp.txt (or the name's time): the student's word
    files: list = field(default_factory=list)  # relative paths copied (or that would be)
    skipped: list = field(default_factory=list)  # (relative path, why)
    ino: tuple = ()  # (st_dev, st_ino) of the entry's folder

    @property
    def time(self):
        """The hand-in time, naive UTC (as nbgrader compares times)."""
        return datetime.fromtimestamp(self.ctime_ns / 1e9, UTC).replace(tzinfo=None)


def shown(name, limit=120):
    """A name from another account, safe in a one-line message (quoted, escapes visible, bounded)."""
    text = ascii(name)
    return text if len(text) <= limit else text[: limit - 4] + "...'"


def owner_name(uid):
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def parse_name(name):
    """``(student, unit, claimed time or '')`` of an inbound entry's name, or None if it is not one."""
    parts = name.rsplit("+", 3)
    if len(parts) < 3 or not parts[0]:
        return None
    return parts[0], parts[1], parts[2]


def student_uid(student):
    """The uid of the account named ``student``, else Refused."""
    if "/" in student or student in (".", ".."):
        raise Refused(f"{shown(student)} cannot be an account name")
    try:
        return pwd.getpwnam(student).pw_uid
    except KeyError:
        raise Refused(f"there is no account named {shown(student)}") from None


def read_entry(inbound_fd, name, student, dest=None, rules=None, ino=None):
    """Read inbound entry ``name`` (in the folder open as ``inbound_fd``) as written by account ``student``.

    Returns an :class:`Entry`; with ``dest`` (a folder that does not exist yet), copies what
    ``rules`` keep into it, ``timestamp.txt`` excepted. Raises :class:`Refused` when the entry is
    not a folder that ``student``'s account owns (a link is never followed), is too large or deep,
    or (``ino``) is no longer the folder read before.
    """
    rules = rules or Rules()
    uid = student_uid(student)
    try:
        fd = os.open(name, _OPEN | os.O_DIRECTORY, dir_fd=inbound_fd)
    except OSError as e:
        why = {errno.ELOOP: "is a symbolic link", errno.ENOTDIR: "is not a folder"}.get(
            e.errno, f"cannot be read ({e.strerror})"
        )
        raise Refused(f"claims {shown(student)} but {why}") from None
    try:
        st = os.fstat(fd)
        if st.st_uid != uid:
            raise Refused(f"claims {shown(student)} but was written by {shown(owner_name(st.st_uid))}")
        if ino and (st.st_dev, st.st_ino) != ino:
            raise Refused("was replaced while it was being collected")
        entry = Entry(name, student, st.st_ctime_ns, ino=(st.st_dev, st.st_ino))
        if dest is not None:
            os.mkdir(dest, 0o755)
        dest_fd = None if dest is None else os.open(dest, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        try:
            _walk(fd, uid, entry, rules, dest_fd, "", 0, [0, 0])
        finally:
            if dest_fd is not None:
                os.close(dest_fd)
        # whatever was added while it was read moved the folder's ctime
        entry.ctime_ns = max(entry.ctime_ns, os.fstat(fd).st_ctime_ns)
        if not entry.claimed:
            entry.claimed = (parse_name(name) or ("", "", ""))[2]
        return entry
    finally:
        os.close(fd)


def _walk(dir_fd, uid, entry, rules, dest_fd, prefix, depth, totals):
    """Check (and copy into ``dest_fd``) every item of the folder open as ``dir_fd``; totals: [items, bytes]."""
    for name in sorted(os.listdir(dir_fd)):
        rel = prefix + name
        totals[0] += 1
        if totals[0] > MAX_ITEMS:
            raise Refused(f"holds more than {MAX_ITEMS} files and folders")
        if any(fnmatch.fnmatch(name, g) for g in rules.ignore):
            continue
        try:
            fd = os.open(name, _OPEN, dir_fd=dir_fd)
        except OSError as e:
            why = "a symbolic link (never followed)" if e.errno == errno.ELOOP else f"unreadable ({e.strerror})"
            entry.skipped.append((rel, why))
            continue
        try:
            st = os.fstat(fd)
            if st.st_uid != uid:
                entry.skipped.append((rel, f"written by {shown(owner_name(st.st_uid))}, not {shown(entry.student)}"))
            elif stat.S_ISDIR(st.st_mode):
                if depth + 1 >= MAX_DEPTH:
                    raise Refused(f"has folders more than {MAX_DEPTH} deep")
                entry.ctime_ns = max(entry.ctime_ns, st.st_ctime_ns)
                sub = None
                if dest_fd is not None:
                    os.mkdir(name, 0o755, dir_fd=dest_fd)
                    sub = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=dest_fd)
                try:
                    _walk(fd, uid, entry, rules, sub, rel + "/", depth + 1, totals)
                finally:
                    if sub is not None:
                        os.close(sub)
                entry.ctime_ns = max(entry.ctime_ns, os.fstat(fd).st_ctime_ns)
            elif not stat.S_ISREG(st.st_mode):
                entry.skipped.append((rel, "not a regular file"))
            elif rel == "timestamp.txt":
                entry.ctime_ns = max(entry.ctime_ns, st.st_ctime_ns)
                entry.claimed = os.read(fd, 200).decode("utf-8", "replace").strip()
            elif not any(fnmatch.fnmatch(name, g) for g in rules.include):
                continue
            elif st.st_size > rules.max_file:
                entry.skipped.append((rel, f"larger than {rules.max_file} bytes (CourseDirectory.max_file_size)"))
            else:
                totals[1] += st.st_size
                if totals[1] > rules.max_total:
                    raise Refused(f"is larger than {rules.max_total} bytes (CourseDirectory.max_dir_size)")
                if dest_fd is not None:
                    _copy(fd, name, dest_fd, rules.max_file)
                entry.ctime_ns = max(entry.ctime_ns, st.st_ctime_ns, os.fstat(fd).st_ctime_ns)
                entry.files.append(rel)
        finally:
            os.close(fd)


def _copy(src_fd, name, dest_fd, limit):
    out = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644, dir_fd=dest_fd)
    try:
        left = limit
        while left > 0 and (chunk := os.read(src_fd, min(left, 1 << 20))):
            os.write(out, chunk)
            left -= len(chunk)
    finally:
        os.close(out)


class AuthenticatedCollect(ExchangeCollect):
    """``nbgrader collect`` (and the formgrader's) that collects only what the named student's account wrote.

    An entry that fails :func:`read_entry` is refused (one ERROR line naming it, its claimed student
    and its real writer) before the newest entry of each student is chosen, so a forged entry never
    hides the student's own. Times are the file system's; ``timestamp.txt`` in ``submitted/`` is
    written by the collector. An earlier submission is replaced only once the new one is copied.
    """

    def init_src(self):
        if self.coursedir.course_id == "":
            self.fail("No course id specified. Re-run with --course flag.")
        self.course_path = os.path.join(self.root, self.coursedir.course_id)
        self.inbound_path = os.path.join(self.course_path, "inbound")
        try:
            self.inbound_fd = os.open(self.inbound_path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            names = os.listdir(self.inbound_fd)
        except FileNotFoundError:
            self.fail(f"Course not found: {self.inbound_path}")
        except OSError as e:
            self.fail(f"Cannot read the exchange's inbound folder {self.inbound_path}: {e.strerror}")
        self.rules = Rules.of(self.coursedir)
        records = []
        for name in sorted(names):
            parsed = parse_name(name)
            if parsed is None or parsed[1] != self.coursedir.assignment_id:
                continue
            if not fnmatch.fnmatchcase(parsed[0], self.coursedir.student_id or "*"):  # a glob, "*" by default
                continue
            try:
                entry = read_entry(self.inbound_fd, name, parsed[0], rules=self.rules)
            except (Refused, OSError) as e:  # one entry's trouble never ends the others' collect
                why = e if isinstance(e, Refused) else f"could not be read ({e.strerror})"
                self.log.error("inbound entry %s %s: not collected", shown(name), why)
                continue
            records.append({"username": entry.student, "filename": name, "timestamp": entry.time, "entry": entry})
        with gradebook.open_gradebook(self.coursedir.db_url, self.coursedir.course_id) as gb:
            try:
                self.duedate = gb.find_assignment(self.coursedir.assignment_id).duedate
            except MissingEntry:
                self.duedate = None
        self.src_records = []
        for student_records in groupby(records, lambda r: r["username"]).values():
            newest = sorted(student_records, key=lambda r: r["timestamp"], reverse=True)
            if self.duedate is not None and self.before_duedate:
                newest = [r for r in newest if r["timestamp"] <= self.duedate] or newest
            self.src_records.append(newest[0])

    def copy_files(self):
        unit = self.coursedir.assignment_id
        if not self.src_records:
            self.log.warning(f"No submissions of '{unit}' for course '{self.coursedir.course_id}' to collect")
        else:
            self.log.info(
                f"Processing {len(self.src_records)} submissions of '{unit}' for course '{self.coursedir.course_id}'"
            )
        try:
            for rec in self.src_records:
                self._collect_one(rec)
        finally:
            os.close(self.inbound_fd)

    def _collect_one(self, rec):
        student, unit = rec["username"], self.coursedir.assignment_id
        dest = self.coursedir.format_path(self.coursedir.submitted_directory, student, unit)
        if os.path.isdir(dest):
            existing = self.coursedir.get_existing_timestamp(dest)
            newer = existing is None or rec["timestamp"] > existing
            if not ((self.update and newer) or (self.before_duedate and existing != rec["timestamp"])):
                why = (
                    "No newer submission to collect"
                    if self.update
                    else "Submission already exists, use --update to update"
                )
                self.log.info(f"{why}: {student} {unit}")
                return
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        tmp = os.path.join(os.path.dirname(dest), f".collecting-{unit}-{secrets.token_hex(4)}")
        try:
            entry = read_entry(self.inbound_fd, rec["filename"], student, tmp, self.rules, rec["entry"].ino)
        except (Refused, OSError) as e:  # one entry's trouble (a full disk too) never ends the others' collect
            shutil.rmtree(tmp, ignore_errors=True)
            why = e if isinstance(e, Refused) else f"could not be copied ({e.strerror})"
            self.log.error("inbound entry %s %s: not collected", shown(rec["filename"]), why)
            return
        for rel, why in entry.skipped:
            self.log.error("%s %s: %s in the submission is %s: not collected", student, unit, shown(rel), why)
        self._write_time(tmp, entry)
        if os.path.isdir(dest):
            self.log.info(f"Updating submission: {student} {unit}")
            shutil.rmtree(dest)
        else:
            self.log.info(f"Collecting submission: {student} {unit}")
        os.rename(tmp, dest)

    def _write_time(self, folder, entry):
        """``timestamp.txt``: the file system's time; the student's claim reported when it lies beyond TOLERANCE."""
        tz = gettz(self.timezone) or UTC
        kept = datetime.fromtimestamp(entry.ctime_ns / 1e9, tz).strftime(self.timestamp_format)
        try:
            claimed = parse_utc(entry.claimed) if entry.claimed else None
        except (ValueError, OverflowError):
            claimed = None
        if claimed is None or abs(claimed - entry.time) > TOLERANCE:
            self.log.warning(
                "%s %s: the submission says it was handed in at %s, its files were written at %s: that time is kept",
                entry.student,
                self.coursedir.assignment_id,
                shown(entry.claimed or "(no time)", 60),
                kept,
            )
        with open(os.path.join(folder, "timestamp.txt"), "w", encoding="utf-8") as fh:
            fh.write(kept)


# ------------------------------------------------------------------ the course's folders in the exchange
def prepare_course_folders(root, course_id, owner):
    """As root: ``<root>/<course_id>/`` and its inbound, outbound, feedback: ``owner``'s, with nbgrader's modes.

    A folder there that another account made (or a link, or a file) is moved aside, out of every
    other account's reach, or removed; returns one line for each, saying so.
    """
    pw = pwd.getpwnam(owner)
    said = []
    top = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        course = _own_folder(top, str(root), course_id, pw, FOLDERS[""], said)
        try:
            for sub in ("inbound", "outbound", "feedback"):
                os.close(_own_folder(course, os.path.join(root, course_id), sub, pw, FOLDERS[sub], said))
        finally:
            os.close(course)
    finally:
        os.close(top)
    return said


def _own_folder(parent_fd, parent, name, pw, mode, said):
    """An open descriptor of folder ``name`` in ``parent_fd``, made or taken over for account ``pw``."""
    for _ in range(5):  # a classmate may race to make it again: each try moves theirs aside
        try:
            fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent_fd)
        except FileNotFoundError:
            try:
                os.mkdir(name, 0o700, dir_fd=parent_fd)  # root's until it is handed over below
            except FileExistsError:
                pass
            continue
        except OSError as e:  # a link or a file in its place
            if e.errno not in (errno.ELOOP, errno.ENOTDIR):
                raise
            owner = owner_name(os.lstat(name, dir_fd=parent_fd).st_uid)
            os.unlink(name, dir_fd=parent_fd)
            said.append(f"{os.path.join(parent, name)} was not a folder but a link or file of {owner}'s: removed")
            continue
        st = os.fstat(fd)
        if st.st_uid in (0, pw.pw_uid):
            os.fchown(fd, pw.pw_uid, pw.pw_gid)
            os.fchmod(fd, mode)
            return fd
        aside = f".{name}.moved-aside-{time.strftime('%Y%m%dT%H%M%S')}-{secrets.token_hex(3)}"
        os.fchown(fd, 0, 0)  # locked first: nobody but root enters it any more
        os.fchmod(fd, 0o700)
        os.close(fd)
        os.rename(name, aside, src_dir_fd=parent_fd, dst_dir_fd=parent_fd)
        said.append(
            f"{os.path.join(parent, name)} was made by {owner_name(st.st_uid)}, not the instructor {pw.pw_name}: "
            f"moved aside to {os.path.join(parent, aside)} (root's only)"
        )
    raise OSError(errno.EAGAIN, f"{os.path.join(parent, name)} keeps being made by another account; try again")
