"""What comes into the course: ``course collect``, the safe reading of submissions, what ``submitted/`` holds.

**Collect** imports a folder or a zip of submissions into ``submitted/<student>/<unit>/``, where
``nbgrader collect`` puts what comes through the exchange, and loses nothing without its reason: a
student with two entries is refused naming both (never merged), an entry that cannot be imported is
skipped with its reason and the others imported, an earlier submission is kept unless ``replace``,
and the hand-in time kept is the submission's own, never the moment of collection.

Everything a submission holds is hostile data: a link is never followed (symbolic links and other
non-regular files are refused with a reason, files are opened with ``O_NOFOLLOW``; in a zip, symlink
entries, absolute paths and ``..`` are refused), and student ids are whole-string matches of a
plain-name pattern. :func:`find_submissions` reads ``submitted/`` back for autograde and similarity,
by the same rules.
"""

import contextlib
import os
import re
import shutil
import stat
import struct
import tempfile
import time
import zipfile
import zlib
from datetime import UTC, datetime
from pathlib import Path

from course.errors import CourseError
from course.grading import files
from course.grading.outputs import escape_text
from course.grading.submission import MAX_SUBMISSION_BYTES, NotGradable, parse_submission
from course.instructor.course_dir import require_course, require_unit

#: A plain student id: ASCII letters, digits and ``_ . @ -``, starting with a letter or digit; matched
#: against the whole string (``fullmatch``), so a trailing newline or a look-alike letter is refused.
STUDENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}", re.ASCII)
MAX_ZIP_BYTES = 2 * 2**30
_NOFOLLOW = os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


class UnsafeArchive(CourseError, ValueError):
    """A zip of submissions that would write outside its folder, or is too big: refused whole."""


def valid_student_id(name):
    return isinstance(name, str) and STUDENT_ID.fullmatch(name) is not None


# ------------------------------------------------------------ reading without following links
def read_regular(path, limit=MAX_SUBMISSION_BYTES, dir_fd=None, single_link=False, with_stat=False):
    """:func:`course.grading.files.read_regular` (no link followed, bounded; ValueError saying why),
    a submission's limit by default."""
    return files.read_regular(path, limit, dir_fd=dir_fd, single_link=single_link, with_stat=with_stat)


def _read_beneath(base, path):
    """``read_regular`` of ``path`` inside folder ``base``, opening every folder on the way with
    ``O_NOFOLLOW``: a link swapped in after the walk is refused, not followed. Returns (bytes, stat)."""
    parts = Path(path).relative_to(base).parts
    fd = os.open(base, os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_CLOEXEC", 0))
    try:
        for part in parts[:-1]:
            try:
                child = os.open(part, os.O_RDONLY | os.O_DIRECTORY | _NOFOLLOW, dir_fd=fd)
            except OSError:
                raise ValueError(f"{part} is not a plain folder (links are never followed)") from None
            os.close(fd)
            fd = child
        return read_regular(parts[-1], dir_fd=fd, single_link=True, with_stat=True)
    finally:
        os.close(fd)


def file_kind(path):
    """ "dir", "file", "link" or "other", from lstat (links are not followed)."""
    mode = os.lstat(path).st_mode
    if stat.S_ISLNK(mode):
        return "link"
    return "dir" if stat.S_ISDIR(mode) else "file" if stat.S_ISREG(mode) else "other"


def _notebooks(folder):
    """(notebooks, problem) under ``folder``, walking without following links.

    problem: the first link or non-regular file named ``*.ipynb`` found (a reason), else None.
    """
    found = []
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if d not in (".ipynb_checkpoints", "__MACOSX"))
        for d in dirnames:
            if file_kind(Path(dirpath) / d) == "link":
                return [], f"{Path(dirpath, d).relative_to(folder)} is a symbolic link (links are never followed)"
        for name in sorted(filenames):
            if not name.endswith(".ipynb"):
                continue
            path = Path(dirpath) / name
            kind = file_kind(path)
            if kind != "file":
                what = "a symbolic link (links are never followed)" if kind == "link" else "not a regular file"
                return [], f"{path.relative_to(folder)} is {what}"
            found.append(path)
    return sorted(found), None


def write_file(dest, data):
    """Write ``data`` to ``dest`` through a new file renamed into place (an existing link there is replaced)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=dest.parent, prefix=".collect-", delete=False) as f:
        f.write(data)
    os.replace(f.name, dest)


# ------------------------------------------------------------ collect
#: Files that nbgrader's exchange puts beside a submission (autograde keeps them; its release_feedback reads them back).
EXCHANGE_FILES = ("timestamp.txt", "submission_secret.txt")
#: nbgrader's exchange writes ``timestamp.txt`` in this format (``Exchange.timestamp_format``), in UTC.
TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S.%f %Z"
_UNREADABLE_ENTRY = (OSError, EOFError, zipfile.BadZipFile, zlib.error, NotImplementedError, RuntimeError)


def _owner(entry_name):
    """The student a path of a submissions folder or archive belongs to: its top folder, or its
    top-level name less ``.ipynb``."""
    parts = Path(entry_name).parts
    top = parts[0] if parts else entry_name
    return top[: -len(".ipynb")] if top.endswith(".ipynb") else top


def _entry_time(info):
    """When an archive entry was last written, in seconds since the epoch: the UTC time of its
    extended-timestamp field (0x5455, written by Info-ZIP and most archivers) when it has one, else
    its DOS ``date_time``, which has no zone: read as this machine's local time."""
    extra = info.extra
    while len(extra) >= 4:
        kind, size = struct.unpack("<HH", extra[:4])
        if kind == 0x5455 and size >= 5 and extra[4] & 1 and len(extra) >= 9:
            return struct.unpack("<I", extra[5:9])[0]
        extra = extra[4 + size :]
    return time.mktime((*info.date_time, 0, 0, -1))


def _safe_extract(zip_path, dest):
    """Extract a zip of submissions; returns {student: reason} for the students refused.

    Absolute paths, '..' and zip bombs refuse the whole archive (UnsafeArchive). An entry that
    cannot be imported (a symbolic link, a device, too long a name, unreadable) or a name repeated
    in the archive refuses the student it belongs to, with the reason; the others are extracted.
    Each file gets its entry's time as its mtime: the hand-in time ``collect`` keeps.
    """
    refused = {}
    try:
        z = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, OSError) as e:
        raise CourseError(f"{zip_path}: not a readable zip archive ({e})") from None
    with z:
        infos = z.infolist()
        total = sum(i.file_size for i in infos)
        if total > MAX_ZIP_BYTES:
            raise UnsafeArchive(f"{zip_path}: {total / 2**30:.1f} GiB uncompressed, over the limit")
        for info in infos:
            name = Path(info.filename)
            if name.is_absolute() or ".." in name.parts or info.filename.startswith(("/", "\\")):
                raise UnsafeArchive(f"{zip_path}: unsafe path {info.filename!r} in the archive")
        for info in infos:
            mode = info.external_attr >> 16
            top = _owner(info.filename)
            shown = escape_text(info.filename, 80)
            if stat.S_IFMT(mode) and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
                what = "a symbolic link" if stat.S_ISLNK(mode) else "not a regular file"
                refused.setdefault(top, f"archive entry {shown} is {what} (refused)")
                continue
            if info.is_dir() or top in refused:
                continue
            target = Path(dest, info.filename)
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                with z.open(info) as src, open(target, "xb") as out:
                    shutil.copyfileobj(src, out)
            except FileExistsError:
                refused[top] = f"the archive holds {shown} twice: neither is imported (keep one, then collect again)"
                continue
            except _UNREADABLE_ENTRY as e:
                why = e.strerror if isinstance(e, OSError) and e.strerror else f"{type(e).__name__}: {e}"
                refused[top] = f"archive entry {shown} cannot be extracted ({escape_text(why, 200)}); not imported"
                continue
            try:
                os.utime(target, (_entry_time(info),) * 2)
            except (OverflowError, ValueError, OSError):  # a date no clock can hold: no hand-in time
                os.utime(target, (0, 0))
    return refused


def _submitted_notebooks(dest):
    """The regular notebooks already in submitted/<student>/<unit>/ (links there are no submission)."""
    try:
        return sorted(p for p in dest.iterdir() if p.suffix == ".ipynb" and file_kind(p) == "file")
    except OSError:
        return []


def _stamp(mtime):
    """A hand-in time (seconds since the epoch) as nbgrader's ``timestamp.txt`` holds it; None for none."""
    if mtime <= 0:
        return None
    return datetime.fromtimestamp(mtime, UTC).strftime(TIMESTAMP_FORMAT)


class Collected(tuple):
    """What ``collect`` did: ``(imported ids, skipped [(name, reason)])``, and ``replaced``: the
    imported ids whose earlier submission was replaced (``replace=True``)."""

    def __new__(cls, imported, skipped, replaced):
        self = super().__new__(cls, (imported, skipped))
        self.imported, self.skipped, self.replaced = imported, skipped, replaced
        return self


def _entries(folder, refused):
    """{student: [(entry, kind)]} of a submissions folder: its folders, links and notebooks, by owner."""
    by_student = {}
    for entry in sorted(folder.iterdir()):
        kind = file_kind(entry)
        if entry.name == "__MACOSX" or (kind == "file" and entry.suffix != ".ipynb"):
            continue  # (macOS's resource forks, a README beside the submissions)
        if _owner(entry.name) not in refused:
            by_student.setdefault(_owner(entry.name), []).append((entry, kind))
    return by_student


def _submission_of(name, entries):
    """(notebook path, None) for a student's one entry, or (None, the reason it is refused)."""
    if len(entries) > 1:  # alice/… and alice.ipynb: never merged, never one chosen
        names = " and ".join(escape_text(e.name + ("/" if k == "dir" else ""), 80) for e, k in entries)
        return None, f"two entries for one student ({names}): neither is imported (keep one, then collect again)"
    ((entry, kind),) = entries
    if kind == "link":
        return None, f"{entry.name} is a symbolic link (links are never followed)"
    if kind == "dir":
        notebooks, problem = _notebooks(entry)
        if problem:
            return None, problem
        if not notebooks:
            return None, "no notebook in the folder"
        if len(notebooks) > 1:
            names = ", ".join(escape_text(str(p.relative_to(entry)), 80) for p in notebooks)
            return None, f"{len(notebooks)} notebooks in the folder ({names}): which is the submission? not imported"
        return notebooks[0], None
    if kind != "file":
        return None, f"{entry.name} is not a regular file"
    return entry, None


def collect(source, unit, root=None, replace=False):
    """Import submissions of ``unit`` into submitted/<student>/<unit>/; returns :class:`Collected`.

    source: a folder or a .zip holding either one folder per student (the folder's name is the
    student id; its one notebook is the submission) or notebooks named ``<student>.ipynb``.
    Nothing is lost without its reason: a student with two entries (``alice/…`` and
    ``alice.ipynb``, two notebooks in a folder, one name twice in a zip) is refused naming both;
    an entry that cannot be imported (a symbolic link or other non-regular file, never followed nor
    copied; too long a name, unreadable, not a notebook) is skipped with its reason, and the
    others are imported. A student who already has a submission keeps it unless ``replace``.
    The hand-in time kept in ``timestamp.txt`` is the submission's: the archive entry's time, or
    the file's modification time in a folder -- never the moment of collection.
    """
    root = require_course(root)
    target_name = require_unit(unit, root).source_notebooks[0].name
    imported, skipped, replaced = [], [], []
    if not Path(source).exists():
        raise CourseError(f"{source}: no such folder or .zip of submissions")
    with tempfile.TemporaryDirectory(prefix="course-collect-") as tmp:
        folder = Path(source)
        refused = {}
        if folder.suffix == ".zip":
            refused = _safe_extract(folder, tmp)
            folder = Path(tmp)
        elif file_kind(folder) != "dir":
            raise CourseError(f"{source}: not a folder or a .zip of submissions")
        skipped = sorted(refused.items())
        for student, entries in _entries(folder, refused).items():
            path, why = _submission_of(student, entries)
            if why is None and not valid_student_id(student):
                why = "not a valid student id (letters, digits, _ . @ - only)"
            if why is None:
                try:
                    data, st = _read_beneath(folder, path)
                    parse_submission(data)
                except (ValueError, NotGradable) as e:
                    why = f"{path.name}: {e}"
            if why is None:
                written, why = _store_submission(root / "submitted" / student / unit, target_name, data, st, replace)
                if written:
                    imported.append(student)
                    replaced += [student] if why == "replaced" else []
                    continue
            skipped.append((student, why))
    return Collected(imported, sorted(skipped, key=lambda s: s[0]), replaced)


def _store_submission(dest, target_name, data, st, replace):
    """Write one submission (bytes ``data``, stat ``st`` of its file) into ``dest``.

    Returns (written, note): (True, None), (True, "replaced"), or (False, why it was not written).
    """
    earlier = _submitted_notebooks(dest)
    if earlier and not replace:
        try:
            same = any(read_regular(p) == data for p in earlier)
        except ValueError:
            same = False
        if same:
            return False, "already collected (the same notebook): kept"
        stamp = submission_time(dest)
        when = f" (handed in {stamp:%Y-%m-%d %H:%M} UTC)" if stamp else ""
        return False, f"already has a submission{when}: the earlier one is kept (course collect --replace replaces it)"
    try:
        for old in earlier:
            if old.name != target_name:
                old.unlink()  # (a replaced notebook of another name would be graded instead)
        for name in EXCHANGE_FILES:  # the exchange's, of the replaced submission
            with contextlib.suppress(FileNotFoundError):
                (dest / name).unlink()
        write_file(dest / target_name, data)
        stamp = _stamp(st.st_mtime)
        if stamp:
            write_file(dest / "timestamp.txt", stamp.encode())
    except OSError as e:
        return False, f"cannot be written to {dest}: {e.strerror or e}"
    return True, "replaced" if earlier else None


def submission_time(folder):
    """The time in ``folder``/timestamp.txt (nbgrader's format), or None when absent or unreadable."""
    from nbgrader.utils import parse_utc

    try:
        text = read_regular(folder / "timestamp.txt", limit=200).decode("utf-8").strip()
        return parse_utc(text) if text else None
    except (ValueError, OverflowError, TypeError, UnicodeDecodeError):  # a forged or garbled time: none
        return None


def find_submissions(root, unit, nb_name, students=None):
    """The submissions of ``unit`` in ``root``/submitted: [(student, path, problem)].

    One per student: ``<nb_name>.ipynb`` if there, else the student's first notebook of the unit.
    ``problem`` is a reason not to grade it (a symbolic link, an invalid id), else None. Raises
    CourseError, naming the folder searched, when there is nothing to grade.
    """
    base = Path(root) / "submitted"
    wanted = set(students) if students else None
    found, others = [], {}
    entries = sorted(base.iterdir()) if base.is_dir() else []
    for student_dir in entries:
        student = student_dir.name
        if wanted is not None and student not in wanted:
            continue
        kind = file_kind(student_dir)
        unit_dir = student_dir / unit
        if kind == "dir" and not unit_dir.exists() and not unit_dir.is_symlink():
            for other in student_dir.iterdir():
                if other.is_dir() and not other.is_symlink() and any(other.glob("*.ipynb")):
                    others[other.name] = others.get(other.name, 0) + 1
            continue
        if kind not in ("dir", "link") or not os.path.lexists(unit_dir):
            continue
        problem = None
        if not valid_student_id(student):
            problem = "not a valid student id (letters, digits, _ . @ - only); not graded"
        elif kind == "link" or file_kind(unit_dir) == "link":
            problem = "the submission folder is a symbolic link (links are never followed); not graded"
        if problem:
            found.append((student, None, problem))
            continue
        notebooks = sorted(unit_dir.glob("*.ipynb"))
        if not notebooks:
            continue
        path = unit_dir / f"{nb_name}.ipynb"
        path = path if path in notebooks else notebooks[0]
        kind = file_kind(path)
        if kind != "file":
            what = "a symbolic link (links are never followed)" if kind == "link" else "not a regular file"
            found.append((student, None, f"{path.name} is {what}; not graded"))
            continue
        found.append((student, path, None))
    if not found:
        where = f"{base}/<student>/{unit}/*.ipynb"
        if wanted:
            why = f"no submission of {unit} for {', '.join(sorted(wanted))} in {where}"
        elif others:
            units_seen = ", ".join(f"{u} ({n})" for u, n in sorted(others.items()))
            why = f"no submission of {unit} in {where}; that folder holds submissions of {units_seen}"
        else:
            why = f"no submission of {unit} in {where} (nothing collected yet? course collect, or nbgrader collect)"
        raise CourseError(why + f"; course directory: {root}")
    return found
