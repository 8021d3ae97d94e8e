"""The one skeleton of the instructor's pages (feedback, class report, similarity): inert, escaped, private."""

import os
import stat

from course.instructor import feedback, html_page, report, similarity


def test_a_page_forbids_scripts_and_requests_and_allows_data_images_only_when_asked():
    plain, figures = html_page.page("t", "", "<p>x</p>"), html_page.page("t", "", "", images=True)
    assert "content=\"default-src 'none'; style-src 'unsafe-inline'\"" in plain and "img-src" not in plain
    assert "img-src data:;" in figures and "default-src 'none'" in figures


def test_the_title_and_every_value_are_escaped_text_on_a_visible_line():
    out = html_page.page("<script>x</script>", "", html_page.text("a\n<b>\x1b\u202e", 100))
    assert "<script>" not in out and "&lt;script&gt;" in out
    assert "a\\n&lt;b&gt;\\x1b\\u202e" in out
    assert html_page.text("one\ntwo<", lines=True) == "one\ntwo&lt;" and html_page.text(None) == ""
    assert html_page.text("x" * 50, 10).startswith("x" * 10 + "… (40 more")


def test_a_private_page_is_the_owners_only_and_replaces_a_link_without_following_it(tmp_path):
    target = tmp_path / "elsewhere.html"
    target.write_text("keep me")
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "page.html").symlink_to(target)
    path = html_page.write_private(tmp_path / "reports" / "page.html", "<p>hi</p>")
    assert target.read_text() == "keep me" and not path.is_symlink() and path.read_text() == "<p>hi</p>"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600 and stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700


def test_feedback_report_and_similarity_pages_are_made_by_the_skeleton(monkeypatch):
    made = []
    monkeypatch.setattr(html_page, "page", lambda title, style, body, images=False: made.append(title) or "PAGE")
    empty = {"unit": "01_x", "students": 0, "scores": {}, "max_score": 1.0, "tests": [], "mistakes": []}
    pages = [
        feedback.page("01_x", "alice", "x", [("t", 0.0, 1.0, "no")], 0.0, 1.0),
        report.render(dict(empty, not_graded=[], units=[])),
        similarity.render("01_x", [], []),
    ]
    assert pages == ["PAGE"] * 3 and made == ["Feedback: 01_x", "Class report: 01_x", "Similar submissions: 01_x"]
