"""Intake that never loses work (issue 19): ``course collect`` imports every entry it can and says
why it skipped each other one, never merges two entries of one student, never replaces an earlier
submission unless told to, and keeps the submission's own hand-in time. Nothing here grades.
"""

import os
import time
import zipfile
from datetime import datetime

import pytest

from course import instructor
from course.programs import cli

from helpers import ROOT, make_zip

UNIT = "01_perceptron"


def _notebook(which="exercises"):
    """Unit 1's notebook as handed in: the stub (``exercises``) or the answered one (``solutions``)."""
    return (ROOT / which / UNIT / "perceptron.ipynb").read_text()


def _submitted(course, student):
    return course / "submitted" / student / UNIT / "perceptron.ipynb"


def test_two_entries_for_one_student_in_a_zip_are_refused_naming_both(course, tmp_path):
    archive = make_zip(
        tmp_path / "class.zip",
        [
            ("alice/perceptron.ipynb", _notebook("solutions")),
            ("alice.ipynb", _notebook()),  # the stub, beside the answer
            ("bob.ipynb", _notebook()),
        ],
    )
    imported, skipped = instructor.collect(archive, UNIT, root=course)
    assert imported == ["bob"], "alice has two entries: neither may be imported (not merged, not one chosen)"
    reasons = dict(skipped)
    assert set(reasons) == {"alice"}
    assert "alice/" in reasons["alice"] and "alice.ipynb" in reasons["alice"], "the reason names both entries"
    assert not (course / "submitted" / "alice").exists()


def _corrupt(archive, name):
    """Flip a byte of entry ``name``'s data in ``archive`` (stored, not compressed): its CRC fails."""
    with zipfile.ZipFile(archive) as z:
        info = z.getinfo(name)
    with open(archive, "r+b") as f:
        f.seek(info.header_offset + 30 + len(info.filename.encode()) + len(info.extra) + 10)
        byte = f.read(1)
        f.seek(-1, os.SEEK_CUR)
        f.write(bytes([byte[0] ^ 0xFF]))


@pytest.mark.parametrize(
    "entry, data, corrupt, why",
    [
        ("m" * 300 + ".ipynb", _notebook(), False, "File name too long"),
        ("mallory.ipynb", _notebook(), True, "Bad CRC"),
        ("mallory.ipynb", "this is not a notebook", False, "not JSON"),
    ],
    ids=["name-too-long", "unreadable", "not-a-notebook"],
)
def test_an_entry_that_cannot_be_imported_is_skipped_and_the_others_imported(
    course, tmp_path, entry, data, corrupt, why
):
    entries = [("alice.ipynb", _notebook()), (entry, data), ("bob/perceptron.ipynb", _notebook())]
    archive = make_zip(tmp_path / "class.zip", entries)
    if corrupt:
        _corrupt(archive, entry)
    imported, skipped = instructor.collect(archive, UNIT, root=course)
    assert imported == ["alice", "bob"], "one bad entry must not refuse the class"
    assert len(skipped) == 1 and why in skipped[0][1], f"the skipped entry's reason should say {why!r}: {skipped}"
    assert sorted(p.name for p in (course / "submitted").iterdir()) == ["alice", "bob"]


def test_collecting_again_keeps_the_earlier_submission_unless_replace_is_given(course, tmp_path, capsys):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "alice.ipynb").write_text(_notebook("solutions"))
    assert cli.main(["collect", str(inbox), UNIT, "--course", str(course)]) == 0
    first = _submitted(course, "alice").read_text()
    capsys.readouterr()

    (inbox / "alice.ipynb").write_text(_notebook())  # a later stub under the same name
    assert cli.main(["collect", str(inbox), UNIT, "--course", str(course)]) == 0
    out = capsys.readouterr().out
    assert _submitted(course, "alice").read_text() == first, "collecting again replaced alice's submission"
    assert "collected 0 submission(s)" in out and "alice: already has a submission" in out and "kept" in out

    assert cli.main(["collect", str(inbox), UNIT, "--course", str(course), "--replace"]) == 0
    out = capsys.readouterr().out
    assert _submitted(course, "alice").read_text() == _notebook()
    assert "replaced the earlier submission of alice" in out


def _hand_in_time(course, student):
    from nbgrader.utils import parse_utc

    return parse_utc((course / "submitted" / student / UNIT / "timestamp.txt").read_text())


def test_the_hand_in_time_kept_is_the_archive_entrys_not_the_collections(course, tmp_path):
    entry = zipfile.ZipInfo("alice.ipynb", date_time=(2026, 1, 15, 10, 30, 0))
    archive = make_zip(tmp_path / "class.zip", [(entry, _notebook())])
    instructor.collect(archive, UNIT, root=course)
    handed_in = datetime.fromtimestamp(time.mktime((2026, 1, 15, 10, 30, 0, 0, 0, -1)))  # (zip times are local)
    assert _hand_in_time(course, "alice").timestamp() == handed_in.timestamp()


def test_the_hand_in_time_kept_is_the_files_in_a_folder(course, tmp_path):
    inbox = tmp_path / "inbox"
    (inbox / "bob").mkdir(parents=True)
    (inbox / "bob" / "perceptron.ipynb").write_text(_notebook())
    os.utime(inbox / "bob" / "perceptron.ipynb", (1_760_000_000, 1_760_000_000))
    instructor.collect(inbox, UNIT, root=course)
    assert _hand_in_time(course, "bob").timestamp() == 1_760_000_000


@pytest.mark.parametrize("command", ["collect", "autograde", "feedback"])
def test_a_wrong_unit_name_is_one_line_naming_the_units(course, tmp_path, capsys, command):
    args = [command, *([str(tmp_path)] if command == "collect" else []), "01_perceptorn", "--course", str(course)]
    assert cli.main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert "01_perceptorn" in err and UNIT in err, f"the line should name the known units: {err}"
