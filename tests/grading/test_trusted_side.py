"""The trusted side treats every byte from a submission as hostile (issue 12), without grading anything.

* intake: ``course collect`` never follows a link out of a submission, student ids match whole;
* reports: messages cannot forge lines (``escape_text``);
* rendering: the autograded notebook is sanitised before the formgrader or feedback shows it
  (``sanitise_notebook``), checked on the HTML that nbconvert and nbgrader's formgrader template render;
* where the course is (nbgrader's convention) and what happens when nothing is found to grade;
* the autograde summary says which isolation was used.

Grading itself is covered by tests/instructor/test_instructor.py (one graded batch).
"""

import base64
import json
import os
import stat
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest

from course import instructor
from course.errors import CourseError
from course.grading.outputs import MAX_TEXT_CHARS, escape_text, sanitise_notebook
from course.instructor import autograding

from helpers import ROOT, bin_path, make_zip

UNIT = "01_perceptron"
MARK = "PWNED"  # in every payload: it must never reach a live part of the rendered page
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * 32).decode()


def _notebook_text():
    return (ROOT / "exercises" / UNIT / "perceptron.ipynb").read_text()


# ------------------------------------------------------------ intake: collect
def test_collect_refuses_a_student_folder_holding_a_link_to_the_solutions(course, tmp_path):
    inbox = tmp_path / "inbox"
    (inbox / "mallory").mkdir(parents=True)
    (inbox / "mallory" / "perceptron.ipynb").symlink_to(course / "solutions" / UNIT / "perceptron.ipynb")
    (inbox / "alice.ipynb").write_text(_notebook_text())
    imported, skipped = instructor.collect(inbox, UNIT, root=course)
    assert imported == ["alice"]
    assert [n for n, _ in skipped] == ["mallory"] and "symbolic link" in skipped[0][1]
    assert not (course / "submitted" / "mallory").exists()


def test_collect_refuses_a_notebook_that_is_a_link_to_a_classmates_submission(course, tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "alice.ipynb").write_text(_notebook_text())
    (inbox / "mallory.ipynb").symlink_to(inbox / "alice.ipynb")
    (inbox / "trudy").symlink_to(inbox)  # a whole student folder that is a link
    imported, skipped = instructor.collect(inbox, UNIT, root=course)
    assert imported == ["alice"]
    reasons = dict(skipped)
    assert set(reasons) == {"mallory", "trudy"} and all("symbolic link" in r for r in reasons.values())


def test_collect_refuses_a_fifo_instead_of_blocking_on_it(course, tmp_path):
    inbox = tmp_path / "inbox"
    (inbox / "mallory").mkdir(parents=True)
    os.mkfifo(inbox / "mallory" / "perceptron.ipynb")
    imported, skipped = instructor.collect(inbox, UNIT, root=course)
    assert imported == [] and skipped == [("mallory", "perceptron.ipynb is not a regular file")]


def test_collect_refuses_a_hard_link_to_a_file_elsewhere(course, tmp_path):
    inbox = tmp_path / "inbox"
    (inbox / "mallory").mkdir(parents=True)
    os.link(course / "solutions" / UNIT / "perceptron.ipynb", inbox / "mallory" / "perceptron.ipynb")
    imported, skipped = instructor.collect(inbox, UNIT, root=course)
    assert imported == [] and [n for n, _ in skipped] == ["mallory"] and "hard link" in skipped[0][1]


def test_collect_never_writes_through_a_link_planted_in_submitted(course, tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("keep me")
    dest = course / "submitted" / "alice" / UNIT
    dest.mkdir(parents=True)
    (dest / "perceptron.ipynb").symlink_to(outside)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "alice.ipynb").write_text(_notebook_text())
    assert instructor.collect(inbox, UNIT, root=course)[0] == ["alice"]
    assert outside.read_text() == "keep me"
    assert not (dest / "perceptron.ipynb").is_symlink() and "cells" in (dest / "perceptron.ipynb").read_text()


def test_collect_refuses_symlink_entries_of_a_zip(course, tmp_path):
    link = stat.S_IFLNK | 0o777
    entries = [
        ("alice/perceptron.ipynb", _notebook_text(), stat.S_IFREG | 0o644),
        ("mallory/perceptron.ipynb", "/course/solutions/01_perceptron/perceptron.ipynb", link),
        ("trudy.ipynb", "../alice/perceptron.ipynb", link),
    ]
    archive = make_zip(tmp_path / "class.zip", entries)
    imported, skipped = instructor.collect(archive, UNIT, root=course)
    assert imported == ["alice"]
    reasons = dict(skipped)
    assert set(reasons) == {"mallory", "trudy"} and all("symbolic link" in r for r in reasons.values())


@pytest.mark.parametrize("name", ["/etc/evil.ipynb", "../../outside.ipynb", "alice/../../x.ipynb"])
def test_collect_refuses_a_zip_with_absolute_or_parent_paths(course, tmp_path, name):
    archive = make_zip(tmp_path / "evil.zip", [(name, "{}")])
    with pytest.raises(ValueError, match="unsafe path"):
        instructor.collect(archive, UNIT, root=course)


# ------------------------------------------------------------ intake: student ids
@pytest.mark.parametrize(
    "name",
    [
        "alice\n",  # `$` would match before the final newline
        "alice\r",
        "\nalice",
        "ali\nce",
        "alice\t",
        "alice ",
        "\u0430lice",  # Cyrillic a: looks like "alice"
        "\uff41lice",  # fullwidth a
        "alice\u200b",  # zero-width space
        "alic\u0435",  # Cyrillic e
        "",
        ".hidden",
        "-rf",
        "a" * 65,
    ],
)
def test_a_student_id_with_a_newline_or_a_look_alike_is_refused(name):
    assert not instructor.valid_student_id(name)


@pytest.mark.parametrize("name", ["alice", "bob.smith", "s123456", "jo_o-b@uni.edu", "A" * 64])
def test_plain_student_ids_are_accepted(name):
    assert instructor.valid_student_id(name)


def test_collect_skips_a_student_named_with_a_trailing_newline(course, tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "alice.ipynb").write_text(_notebook_text())
    (inbox / "alice\n.ipynb").write_text(_notebook_text())  # would show as a second "alice"
    imported, skipped = instructor.collect(inbox, UNIT, root=course)
    assert imported == ["alice"] and [n for n, _ in skipped] == ["alice\n"]
    assert sorted(p.name for p in (course / "submitted").iterdir()) == ["alice"]


def test_autograde_does_not_follow_a_submission_that_is_a_link(course):
    for student in ("eve", "mallory"):
        (course / "submitted" / student / UNIT).mkdir(parents=True)
    (course / "submitted" / "eve" / UNIT / "perceptron.ipynb").symlink_to(
        course / "solutions" / UNIT / "perceptron.ipynb"
    )
    (course / "submitted" / "mallory" / UNIT).rmdir()
    (course / "submitted" / "mallory" / UNIT).symlink_to(course / "solutions" / UNIT)
    found = instructor.find_submissions(course, UNIT, "perceptron")
    assert [(s, p) for s, p, _ in found] == [("eve", None), ("mallory", None)]
    assert all("symbolic link" in why for _, _, why in found)


# ------------------------------------------------------------ reports: escaped, bounded
@pytest.mark.parametrize(
    "char, shown",
    [
        ("\n", "\\n"),
        ("\r", "\\r"),
        ("\t", "\\t"),
        ("\x1b", "\\x1b"),  # ANSI escapes (clear the screen, recolour a line)
        ("\x00", "\\x00"),
        ("\x85", "\\x85"),  # NEL: a line break for some readers
        ("\u2028", "\\u2028"),  # line separator
        ("\u2029", "\\u2029"),
        ("\u202e", "\\u202e"),  # right-to-left override: reorders what the reader sees
        ("\u2066", "\\u2066"),
        ("\u200b", "\\u200b"),  # zero-width space
        ("\ufeff", "\\ufeff"),
    ],
)
def test_escape_text_makes_every_control_and_invisible_character_visible(char, shown):
    assert escape_text(f"boom{char}alice\tFAILED") == f"boom{shown}alice\\tFAILED"


def test_escape_text_keeps_ordinary_text_and_bounds_the_length():
    assert escape_text("AssertionError: rel. error 3.2e-03 > 1e-07 (é, ü, 日本)") == (
        "AssertionError: rel. error 3.2e-03 > 1e-07 (é, ü, 日本)"
    )
    long = escape_text("x" * 10_000)
    assert long.startswith("x" * MAX_TEXT_CHARS) and long.endswith("(9500 more characters)")
    assert len(escape_text("\n" * 10_000)) < 4 * MAX_TEXT_CHARS  # escaping cannot blow the bound up
    assert "\n" not in escape_text("a\nb", limit=None)


def test_the_autograde_log_cannot_be_forged_by_a_message(tmp_path):
    forged = "boom\nalice\tFAILED\tforged line\r\x1b[2Jmore"
    results = [
        ("mallory", {"score": 0.0, "max_score": 5.0, "error": forged, "tests": []}),
        (
            "bob",
            {"score": 2.0, "max_score": 5.0, "tests": [{"grade_id": "t", "score": 0, "max_score": 3, "error": forged}]},
        ),
    ]
    log = tmp_path / "autograde-logs" / "u.log"
    autograding.write_log(log, "u", results)
    lines = log.read_text().split("\n")
    assert [ln.split("\t")[0] for ln in lines[1:-1]] == ["mallory", "bob"]
    assert all("\r" not in ln and "\x1b" not in ln for ln in lines)


def test_course_grade_report_escapes_messages(monkeypatch, capsys):
    from course.programs import cli

    forged = "boom\nalice  [01_perceptron]  5 / 5"
    result = {
        "notebook": "mallory.ipynb",
        "assignment": UNIT,
        "score": 0.0,
        "max_score": 5.0,
        "error": forged,
        "tests": [{"grade_id": "perceptron_fit", "score": 0.0, "max_score": 3.0, "error": forged}],
    }
    monkeypatch.setattr("course.grading.grade_notebooks", lambda *a, **k: [result])
    assert cli.main(["grade", "mallory.ipynb"]) == 0
    out = capsys.readouterr().out
    assert not any(line.startswith("alice") for line in out.splitlines())
    assert out.count("\n") == 3  # the notebook, its error, its test: one line each


# ------------------------------------------------------------ rendering: sanitised notebooks
class _Live(HTMLParser):
    """What a browser would run or follow in an HTML page: script text, on* handlers, URLs."""

    def __init__(self):
        super().__init__()
        self.live, self._script = [], False

    def handle_starttag(self, tag, attrs):
        self._script = tag in ("script", "style", "iframe", "object", "embed")
        for name, value in attrs:
            if name.startswith("on") or name in ("href", "src", "srcdoc", "action", "formaction", "data"):
                self.live.append(f"{tag}[{name}]={value}")
        if tag in ("iframe", "object", "embed", "svg", "math", "base", "meta", "form"):
            self.live.append(f"<{tag} {attrs}>")

    def handle_endtag(self, tag):
        self._script = False

    def handle_data(self, data):
        if self._script:
            self.live.append(data)


FORMGRADE_RESOURCES = {  # what nbgrader's formgrader passes to its template (SubmissionHandler)
    "assignment_id": UNIT,
    "notebook_id": "perceptron",
    "submission_id": "s1",
    "index": 0,
    "total": 1,
    "base_url": "/",
    "student": "mallory",
    "last_name": None,
    "first_name": None,
    "notebook_path": "/autograded/mallory/01_perceptron/perceptron.ipynb",
}


def _render(nb, template):
    """HTML of ``nb`` as nbconvert renders it ("lab") or as nbgrader's formgrader does ("formgrade")."""
    from nbconvert import HTMLExporter
    from traitlets.config import Config

    if template == "lab":
        return HTMLExporter().from_notebook_node(nb)[0]
    from nbgrader.server_extensions.formgrader import handlers

    cfg = Config()
    cfg.HTMLExporter.template_name = "formgrade"
    cfg.HTMLExporter.extra_template_basedirs = [handlers.template_path]
    return HTMLExporter(config=cfg).from_notebook_node(nb, resources=dict(FORMGRADE_RESOURCES))[0]


def _live_parts(nb, template="lab"):
    body = _render(nb, template)
    parser = _Live()
    parser.feed(body)
    return [x for x in parser.live if MARK in x]


def _hostile_notebook():
    html = f"<script>{MARK}()</script><img src=x onerror={MARK}()>"
    outputs = [
        nbformat.v4.new_output("display_data", data={"text/html": html}),
        nbformat.v4.new_output("display_data", data={"application/javascript": f"{MARK}()"}),
        nbformat.v4.new_output(
            "display_data", data={"image/svg+xml": f"<svg onload='{MARK}()'><script>{MARK}()</script></svg>"}
        ),
        nbformat.v4.new_output("display_data", data={"text/markdown": f"<img src=x onerror={MARK}()>"}),
        nbformat.v4.new_output("display_data", data={"text/latex": f"\\href{{javascript:{MARK}()}}{{x}}"}),
        nbformat.v4.new_output(
            "display_data",
            data={
                "application/vnd.jupyter.widget-view+json": {"model_id": "m", "version_major": 2, "version_minor": 0}
            },
        ),
        nbformat.v4.new_output("execute_result", data={"text/plain": "42", "text/html": html}, execution_count=3),
        nbformat.v4.new_output("display_data", data={"image/png": f'x" onerror="{MARK}()'}),
        nbformat.v4.new_output(
            "display_data", data={"image/png": PNG}, metadata={"image/png": {"width": f'1" {MARK}'}}
        ),
    ]
    code = nbformat.v4.new_code_cell("print('hi')", outputs=outputs, execution_count=3)
    code.metadata["tags"] = ["ok-tag", f"a' onmouseover='{MARK}()", f'b" onclick="{MARK}()']
    student_md = nbformat.v4.new_markdown_cell(
        f"My answer <script>{MARK}()</script> <img src=x onerror={MARK}()> [click](javascript:{MARK}()) "
        f"![t](http://example.invalid/{MARK}.png) <https://example.invalid/{MARK}>"
    )
    raw = nbformat.v4.new_raw_cell(f"<script>{MARK}()</script>", metadata={"format": "text/html"})
    nb = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_markdown_cell("# Unit 1\n\n<b>instructor</b>"), code, student_md, raw]
    )
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {"m": {"x": "y" * 10_000}}}}
    nb.metadata["evil"] = {"a": MARK}
    return nb


@pytest.mark.parametrize("template", ["lab", "formgrade"])
def test_the_hostile_notebook_is_live_html_without_sanitising(template):
    """The payloads below do run when the raw notebook is rendered (this test proves the probe works)."""
    assert len(_live_parts(_hostile_notebook(), template)) >= 4


@pytest.mark.parametrize("template", ["lab", "formgrade"])
def test_sanitised_notebook_renders_no_script_handler_or_link_of_the_student(template):
    nb = sanitise_notebook(_hostile_notebook(), trusted_markdown={"# Unit 1\n\n<b>instructor</b>"})
    nbformat.validate(nb)
    assert _live_parts(nb, template) == []


def test_sanitising_keeps_text_plain_and_png_and_names_what_it_removed():
    nb = sanitise_notebook(_hostile_notebook())
    outs = nb.cells[1].outputs
    kinds = [set(o.get("data", {})) for o in outs]
    assert all(k <= {"text/plain", "image/png"} for k in kinds)
    assert outs[0].data["text/plain"] == "[output of type text/html removed by the grader]"
    assert outs[6].data["text/plain"].startswith("42\n") and outs[6].execution_count == 3
    assert "image/png" not in outs[7].data  # not base64 of a PNG: dropped
    assert outs[8].data["image/png"] == PNG and not outs[8].get("metadata")


def test_sanitising_strips_widget_state_and_unknown_notebook_metadata():
    nb = sanitise_notebook(_hostile_notebook())
    assert set(nb.metadata) <= {"kernelspec", "language_info", "nbgrader", "course"}
    assert nb.cells[1].metadata["tags"] == ["ok-tag"]
    assert "widgets" not in json.dumps(nb)


def test_kernel_and_language_metadata_keep_plain_names_only():
    nb = nbformat.v4.new_notebook()
    payload = f'"><script>{MARK}()</script>'
    nb.metadata = {
        "kernelspec": {"name": "python3", "display_name": payload, "language": "python"},
        "language_info": {"name": "python", "version": "3.11.7", "codemirror_mode": {"name": "ipython", "version": 3}},
    }
    meta = sanitise_notebook(nb).metadata
    assert meta["kernelspec"] == {"name": "python3", "language": "python"}
    assert meta["language_info"] == {
        "name": "python",
        "version": "3.11.7",
        "codemirror_mode": {"name": "ipython", "version": 3},
    }


def test_markdown_the_instructor_wrote_stays_markdown_and_the_students_becomes_text():
    instructor_md = "# Unit 1\n\n<b>instructor</b>"
    nb = sanitise_notebook(_hostile_notebook(), trusted_markdown={instructor_md})
    assert nb.cells[0].source == instructor_md
    assert nb.cells[2].source.startswith("*(a cell added or edited by the student, shown as text)*")
    assert MARK in nb.cells[2].source  # still readable by the instructor, as text
    assert "format" not in nb.cells[3].metadata


def test_a_fence_in_the_students_markdown_cannot_close_the_text_block():
    source = f"```\n</pre><script>{MARK}()</script>\n````\n<img src=x onerror={MARK}()>"
    nb = sanitise_notebook(nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(source)]))
    assert _live_parts(nb) == []


def test_sanitising_a_sanitised_notebook_changes_nothing():
    """The formgrader sanitises again what ``course autograde`` stored: the student's text stays one block."""
    once = sanitise_notebook(_hostile_notebook(), trusted_markdown={"# Unit 1\n\n<b>instructor</b>"})
    twice = sanitise_notebook(once)
    assert [c.source for c in twice.cells[1:]] == [c.source for c in once.cells[1:]]
    assert twice.cells[2].source.count("shown as text") == 1


def _nbgrader_page(nb, template):
    """HTML of ``nb`` as nbgrader renders it with the course's nbgrader_config.py: its formgrader
    ("formgrade") or its generate_feedback ("feedback"), each with the resources it passes."""
    from nbconvert import HTMLExporter
    from nbgrader.server_extensions.formgrader import handlers
    from traitlets.config import Config
    from traitlets.config.loader import PyFileConfigLoader

    cfg = Config(PyFileConfigLoader("nbgrader_config.py", path=str(ROOT)).load_config())
    cfg.HTMLExporter.template_name = template
    cfg.HTMLExporter.extra_template_basedirs = [handlers.template_path]
    css = Path(handlers.template_path).parent / "static" / "node_modules" / "bootstrap" / "dist" / "css"
    cfg.HTMLExporter.extra_template_paths = [str(css)]  # (as GenerateFeedback sets it)
    named = {"notebook": "perceptron", "assignment": UNIT, "score": 0.0, "max_score": 5.0, "late_penalty": 0}
    resources = dict(FORMGRADE_RESOURCES) if template == "formgrade" else {"nbgrader": named}
    return HTMLExporter(config=cfg).from_notebook_node(nb, resources=resources)[0]


@pytest.mark.parametrize("template", ["formgrade", "feedback"])
def test_nbgrader_with_the_courses_config_renders_a_hostile_notebook_inert(template):
    """A notebook autograded by nbgrader itself (not sanitised when stored) is sanitised where nbgrader
    renders it; the instructor's markdown of the unit stays markdown."""
    exercise = json.loads(_notebook_text())
    title = next(c for c in exercise["cells"] if c["cell_type"] == "markdown")
    nb = _hostile_notebook()
    nb.cells.insert(0, nbformat.v4.new_markdown_cell("".join(title["source"])))
    parser = _Live()
    parser.feed(page := _nbgrader_page(nb, template))
    assert [x for x in parser.live if MARK in x] == []
    assert "<h1" in page and page.count("shown as text") == 2  # the student's cell, the unknown "# Unit 1"


def test_outputs_are_bounded():
    big = nbformat.v4.new_output("stream", name="stdout", text="x" * 5_000_000)
    many = [nbformat.v4.new_output("stream", name="stdout", text="y")] * 1000
    huge_png = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * 5 * 2**20).decode()
    png = nbformat.v4.new_output("display_data", data={"image/png": huge_png})
    nb = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell("", outputs=[big, png]), nbformat.v4.new_code_cell("", outputs=many)]
    )
    safe = sanitise_notebook(nb)
    assert len(json.dumps(safe)) < 200_000
    assert "more characters removed by the grader" in safe.cells[0].outputs[0].text


# ------------------------------------------------------------ where the course is
def test_the_course_is_the_nearest_folder_holding_nbgrader_config(course, monkeypatch):
    monkeypatch.delenv("COURSE_ROOT", raising=False)
    deep = course / "submitted" / "alice"
    deep.mkdir(parents=True)
    monkeypatch.chdir(deep)
    assert instructor.find_course() == course
    assert instructor.find_course("/somewhere/else") == Path("/somewhere/else")
    monkeypatch.setenv("COURSE_ROOT", str(ROOT))
    assert instructor.find_course() == ROOT


def test_no_submission_where_submitted_has_notebooks_is_an_error_naming_the_folder(course):
    (course / "submitted" / "alice" / "02_backprop").mkdir(parents=True)
    (course / "submitted" / "alice" / "02_backprop" / "backprop.ipynb").write_text("{}")
    with pytest.raises(CourseError) as e:
        instructor.autograde(UNIT, root=course)
    assert str(course / "submitted") in str(e.value) and "02_backprop (1)" in str(e.value)


def test_course_autograde_inside_another_course_grades_that_course(course):
    """Run from a copy of the course: the copy is searched (not the repository), and the error says so."""
    (course / "submitted" / "alice" / "02_backprop").mkdir(parents=True)
    (course / "submitted" / "alice" / "02_backprop" / "backprop.ipynb").write_text("{}")
    env = {k: v for k, v in os.environ.items() if k != "COURSE_ROOT"}
    r = subprocess.run(
        [bin_path("course"), "autograde", UNIT], cwd=course, env=env, capture_output=True, text=True, timeout=120
    )
    assert r.returncode == 2, r.stdout + r.stderr
    assert f"{course}/submitted/<student>/{UNIT}" in r.stderr and "Traceback" not in r.stderr


# ------------------------------------------------------------ the summary says which isolation was used
def _result(score, isolation=None):
    r = {"notebook": "x.ipynb", "score": score, "max_score": 5.0, "tests": []}
    if isolation:
        r["isolation"] = isolation
    return r


def test_the_summary_says_which_isolation_was_used():
    text = instructor.summary([("a", _result(5, "bwrap")), ("b", _result(2, "bwrap")), ("c", _result(5, "userns"))])
    assert "isolation: bwrap (2), userns (1)" in text and "WARNING" not in text


def test_the_summary_warns_when_student_code_ran_without_isolation():
    text = instructor.summary([("a", _result(5, "none")), ("b", _result(5, "bwrap"))])
    assert "isolation: bwrap (1), none (1)" in text and "1 submission(s) ran WITHOUT isolation" in text


def test_the_summary_says_when_results_do_not_report_isolation():
    assert "isolation: not reported (1)" in instructor.summary([("a", _result(5))])


# ------------------------------------------------------------ feedback pages: escaped text
def test_a_feedback_page_shows_messages_as_escaped_text():
    from course.instructor.feedback import page

    message = f"AssertionError: w differs\n<script>{MARK}()</script>\x1b[2J\u202e"
    text = page(UNIT, "mallory", "perceptron", [("perceptron_fit", 0.0, 3.0, message)], 0.0, 5.0, error=None)
    assert f"<script>{MARK}" not in text and f"&lt;script&gt;{MARK}()&lt;/script&gt;" in text
    assert "\x1b" not in text and "\u202e" not in text and "\\x1b[2J\\u202e" in text
    assert "AssertionError: w differs\n" in text  # a message's own line breaks stay (inside <td>, harmless)
