"""What a user's server on the hub does first, as that user: ``python -m course.programs.hub_server ARGS``.

JupyterHub starts this (``Spawner.cmd`` in deploy/jupyterhub/jupyterhub_config.py) in the user's
view (``course.programs.hub.user_view``) and home; it becomes ``jupyterhub.singleuser ARGS`` once done.
For a student (``COURSE_HUB_ROLE=student``), first:

* **the lectures** (``lectures/`` of the course the hub runs) are copied into ``~/lectures/``, and
  refreshed at every start, in the spirit of nbgitpuller: a lecture the student has not changed is
  replaced by the instructor's new version; one they changed is never overwritten: the new version
  is put beside it as ``NN_name.new.ipynb``; one they deleted comes back.
* **a landing page**, ``~/README.md`` (the server opens it first), says where everything is: the
  lectures, the exercises (the Assignments tab), how to self-grade and submit, where feedback appears.

Nothing here may stop a server from starting: a failure is one line in the hub's log.
"""

import hashlib
import json
import os
import sys
import tempfile
from pathlib import Path

SYNC_RECORD = ".course-sync.json"  # in each synced folder: name -> sha256 of the version last copied there

LANDING = """# {course}: start here

Welcome! Everything of the course is in this JupyterLab:

* **Lectures**: the folder `lectures/` (a copy of your own: run, annotate and change them freely).
  When your instructor updates a lecture, your copy is updated the next time your server starts,
  unless you changed it: then your version stays and the new one appears beside it as
  `NN_name.new.ipynb`.
* **Exercises** come from the **Assignments** tab (menu *Nbgrader > Assignment List*): *Fetch* a
  released unit and it appears in `{course}/NN_unit/` here. Write your code where it says
  `YOUR CODE HERE`; the cells below each answer check it.
* **Check your work** with the *Validate* button of the notebook, or grade it yourself in a terminal
  (*File > New > Terminal*):

      course grade {course}/01_perceptron/perceptron.ipynb

  This runs the visible tests only: the hidden ones run when your instructor grades your submission.
* **Submit** in the Assignments tab (you may submit again until the deadline: the last one counts).
* **Feedback**: once your instructor has released it, *Fetch Feedback* in the Assignments tab, then
  *(view feedback)* opens the feedback page (it lies in `{course}/NN_unit/feedback/`).

This page is rewritten when the course is updated, unless you changed it.
"""


def _sha(data):
    return hashlib.sha256(data).hexdigest()


def _write(path, data):
    """``data`` into ``path`` all at once (a half-written notebook is never seen)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    umask = os.umask(0)
    os.umask(umask)
    os.fchmod(fd, 0o666 & ~umask)  # as a file the user made (mkstemp's are 0600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def sync(files, dest):
    """Copy ``files`` ({name: bytes}) into folder ``dest``, never overwriting what the user changed.

    Returns {name: what happened}: "copied" (new or deleted), "updated" (the user's copy was ours,
    unchanged), "kept" (already the newest), "beside" (the user changed it: the new version went to
    ``NN_name.new.ext``).
    """
    dest.mkdir(parents=True, exist_ok=True)
    record_path = dest / SYNC_RECORD
    try:
        record = json.loads(record_path.read_text(encoding="utf-8"))
        record = record if isinstance(record, dict) else {}
    except (OSError, ValueError):
        record = {}
    done = {}
    for name, data in sorted(files.items()):
        new, target = _sha(data), dest / name
        mine = _sha(target.read_bytes()) if target.is_file() else None
        if mine == new:
            done[name] = "kept"
        elif mine is None or mine == record.get(name):
            _write(target, data)
            done[name] = "copied" if mine is None else "updated"
        else:  # the user's own version: left alone
            beside = target.with_name(f"{target.stem}.new{target.suffix}")
            if not beside.is_file() or _sha(beside.read_bytes()) != new:
                _write(beside, data)
            done[name] = "beside"
            continue
        record[name] = new
    _write(record_path, json.dumps(record, indent=1).encode())
    return done


def prepare_student(home, course_id, lectures):
    """The lectures into ``home``/lectures and the landing page ``home``/README.md."""
    files = {p.name: p.read_bytes() for p in sorted(Path(lectures).glob("*.ipynb"))}
    done = sync(files, Path(home) / "lectures")
    done.update(sync({"README.md": LANDING.format(course=course_id).encode()}, Path(home)))
    return done


def main(argv):
    if os.environ.get("COURSE_HUB_ROLE") == "student":
        try:
            from course.units import course_root

            prepare_student(Path.home(), os.environ.get("COURSE_HUB_COURSE_ID", "rnn"), course_root() / "lectures")
        except Exception as e:  # the server starts anyway; the reason is in the hub's log
            print(f"course.programs.hub_server: the lectures were not copied: {type(e).__name__}: {e}", file=sys.stderr)
    sys.stdout.flush()
    os.execv(sys.executable, [sys.executable, "-m", "jupyterhub.singleuser", *argv])


if __name__ == "__main__":
    main(sys.argv[1:])
