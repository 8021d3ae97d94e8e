"""Inert HTML pages for people: the one skeleton of ``course feedback``, ``course report`` and ``course similarity``.

A page runs no script and loads nothing: its Content-Security-Policy forbids both (a page with
figures takes images as ``data:`` URLs only). Every value that comes from a submission, a roster or
the gradebook goes into the page through :func:`text`: control and invisible characters made
visible (:func:`course.grading.outputs.escape_text`), bounded, HTML-escaped. A page for the
instructor's eyes only is written by :func:`write_private` (0600, in a folder of mode 0700).
"""

import html
import os
from pathlib import Path

from course.grading.outputs import escape_text

#: No script, no request; inline style only. ``images``: pictures embedded as data: URLs too.
CSP = "default-src 'none'; style-src 'unsafe-inline'"
CSP_WITH_IMAGES = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"

SKELETON = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{csp}">
<title>{title}</title>
<style>
{style}
</style></head>
<body>
{body}
</body></html>
"""


def text(value, limit=300, lines=False):
    """``value`` as HTML text: ``str()``-ed (None: empty), at most ``limit`` characters, escaped.

    On one visible line (a newline shows as ``\\n``), or with ``lines`` its line breaks kept (for a
    ``white-space: pre-wrap`` cell) and every line escaped alike.
    """
    value = value if isinstance(value, str) else "" if value is None else str(value)
    if not lines:
        return html.escape(escape_text(value, limit))
    cut = value[:limit] + (f"… ({len(value) - limit} more characters)" if len(value) > limit else "")
    return "\n".join(html.escape(escape_text(line, None)) for line in cut.split("\n"))


def page(title, style, body, images=False):
    """The whole page: ``title`` (plain text: escaped here), ``style`` (the page's CSS), ``body``
    (HTML whose every value went through :func:`text`); ``images``: allow ``data:`` images."""
    return SKELETON.format(
        csp=CSP_WITH_IMAGES if images else CSP, title=text(title, 200), style=style.strip(), body=body.strip()
    )


def write_private(path, page_text):
    """Write ``page_text`` to ``path`` readable by its owner only (0600, its folder 0700), replacing a
    file or a link there (never written through); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(page_text)
    return path
