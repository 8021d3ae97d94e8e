"""What comes out of the sandbox, made safe for the trusted side: text for reports, notebooks to show.

Two things cross the trust boundary back from a submission and are then shown to people:

* **Text** (exception messages, reasons, names) that goes into ``autograde-logs/<unit>.log``,
  ``course grade``'s report and the autograde summary. :func:`escape_text` turns every control
  character, line or paragraph separator and invisible formatting character (bidi overrides,
  zero-width) into a visible escape (``\\n``, ``\\x1b``, ``\\u202e``) and bounds the length, so
  a message can neither forge a line of a report nor reorder what the reader sees.
* **The autograded notebook**, stored under ``autograded/`` and rendered by nbgrader's formgrader
  (in the instructor's browser, on the origin of the instructor's Jupyter API) and by feedback.
  :class:`SanitiseNotebook`, an nbconvert preprocessor, keeps what renders as inert text or a
  picture and nothing that a browser would run. ``course autograde`` applies it before storing the
  notebook (:func:`sanitise_notebook`), and the course's ``nbgrader_config.py`` composes it with
  nbgrader's own preprocessors wherever nbgrader renders one (``HTMLExporter.preprocessors``: the
  formgrader, ``nbgrader generate_feedback``), so a notebook autograded by nbgrader itself is safe too:

  - outputs: ``stream`` and ``error`` text (bounded); of ``display_data``/``execute_result`` only
    ``text/plain`` (bounded) and ``image/png`` (strict base64 of a PNG, bounded); every other
    type (``text/html``, ``application/javascript``, ``image/svg+xml``, ``text/markdown``,
    ``text/latex``, widget views) is replaced by a ``text/plain`` note naming what was removed;
    output metadata is dropped (nbconvert writes it into HTML attributes);
  - markdown cells: kept only when their source is one the instructor wrote (``trusted_markdown``,
    or the unit's own: :func:`instructor_markdown`); any other (a student's own, or an edited one)
    is shown as plain text in a fenced block, so raw HTML, ``javascript:`` links and remote images
    never render (a block already made so is kept: sanitising twice changes nothing); attachments
    only as PNG/JPEG/GIF, bounded;
  - raw cells: their format metadata removed (nbconvert then shows them as escaped text);
  - metadata: the notebook keeps ``kernelspec`` and ``language_info`` (plain names only),
    ``nbgrader`` and ``course`` (strings bounded); widget state and everything else is dropped;
    a cell keeps ``nbgrader``, ``tags`` (plain names only: nbconvert writes them unescaped into a class attribute),
    ``editable``, ``deletable`` and ``jupyter``; cell ids only where nbformat's pattern allows;
  - every cell's source, the number of outputs and the number of cells are bounded.
"""

import base64
import binascii
import json
import os
import re
import unicodedata

import nbformat
from nbconvert.preprocessors import Preprocessor
from traitlets import Bool, List, Unicode

from course import units as course_units
from course.grading.submission import source_text

MAX_TEXT_CHARS = 500  # a message in a report
MAX_SOURCE_CHARS = 200_000  # a cell's source
MAX_OUTPUT_CHARS = 20_000  # one text output (stream, text/plain, a traceback)
MAX_PNG_BYTES = 2 * 2**20  # one image, decoded
MAX_OUTPUTS = 50  # per cell
MAX_CELLS = 2_000
MAX_META_CHARS = 200
SAFE_ATTACHMENTS = ("image/png", "image/jpeg", "image/gif")
_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_BASE64 = re.compile(rb"[A-Za-z0-9+/]*={0,2}")
_CELL_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_TAG = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_NAME = re.compile(r"[A-Za-z0-9_.+ ()/-]{0,100}")  # a kernel's or language's name, version, mimetype
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


# ------------------------------------------------------------ text for reports
def _escape_char(ch):
    if ch in _ESCAPES:
        return _ESCAPES[ch]
    if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"):
        code = ord(ch)
        return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"
    return ch


def escape_text(text, limit=MAX_TEXT_CHARS):
    """``text`` on one visible line: control and invisible characters escaped, at most ``limit`` chars.

    A longer text is cut and ends with ``… (N more characters)``. Non-strings are ``str()``-ed first.
    """
    text = text if isinstance(text, str) else str(text)
    cut = len(text) - limit if limit is not None and len(text) > limit else 0
    if cut:
        text = text[:limit]
    out = "".join(map(_escape_char, text))
    return out + f"… ({cut} more characters)" if cut else out


def _bounded(text, limit):
    """Text for a notebook (newlines are fine there), cut at ``limit`` characters with a note."""
    text = text if isinstance(text, str) else "".join(text) if isinstance(text, list) else str(text)
    if len(text) > limit:
        return text[:limit] + f"\n… [{len(text) - limit} more characters removed by the grader]"
    return text


# ------------------------------------------------------------ notebooks for the formgrader and feedback
def _png(data):
    """The base64 text of a PNG if ``data`` is one (strict base64, PNG signature, bounded), else None."""
    if isinstance(data, list):
        data = "".join(x for x in data if isinstance(x, str))
    if not isinstance(data, str):
        return None
    raw = "".join(data.split()).encode("ascii", "replace")
    if len(raw) > (MAX_PNG_BYTES * 4) // 3 + 4 or not _BASE64.fullmatch(raw):
        return None
    try:
        decoded = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw.decode("ascii") if decoded.startswith(_PNG_MAGIC) else None


def _removed_note(kinds):
    return f"[output of type {', '.join(sorted(kinds))} removed by the grader]"


def _output(out):
    """A safe copy of one output (a dict), or None to drop it."""
    kind = out.get("output_type") if isinstance(out, dict) else None
    if kind == "stream":
        name = out.get("name") if out.get("name") in ("stdout", "stderr") else "stdout"
        return nbformat.v4.new_output("stream", name=name, text=_bounded(out.get("text", ""), MAX_OUTPUT_CHARS))
    if kind == "error":
        tb = out.get("traceback") if isinstance(out.get("traceback"), list) else []
        tb = [x for x in tb[:200] if isinstance(x, str)]
        return nbformat.v4.new_output(
            "error",
            ename=_bounded(out.get("ename", "Error"), MAX_META_CHARS),
            evalue=_bounded(out.get("evalue", ""), MAX_OUTPUT_CHARS),
            traceback=_bounded("\n".join(tb), MAX_OUTPUT_CHARS).split("\n"),
        )
    if kind in ("display_data", "execute_result"):
        data = out.get("data") if isinstance(out.get("data"), dict) else {}
        safe = {}
        if "text/plain" in data:
            safe["text/plain"] = _bounded(data["text/plain"], MAX_OUTPUT_CHARS)
        if "image/png" in data and (png := _png(data["image/png"])) is not None:
            safe["image/png"] = png
        removed = set(data) - set(safe)
        if removed:
            note = _removed_note(str(k)[:MAX_META_CHARS] for k in removed)
            safe["text/plain"] = (safe["text/plain"] + "\n" + note) if "text/plain" in safe else note
        if kind == "execute_result":
            count = out.get("execution_count")
            return nbformat.v4.new_output(
                "execute_result", data=safe, execution_count=count if isinstance(count, int) else None
            )
        return nbformat.v4.new_output("display_data", data=safe)
    return None


_AS_TEXT_NOTE = "*(a cell added or edited by the student, shown as text)*"
_AS_TEXT = re.compile(re.escape(_AS_TEXT_NOTE) + r"\n\n(`{3,})text\n(.*)\n\1", re.S)


def _as_text(source):
    """Markdown that shows ``source`` verbatim as plain text (a fenced block longer than any fence in it)."""
    longest = max((len(m) for m in re.findall(r"`+", source)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{_AS_TEXT_NOTE}\n\n{fence}text\n{source}\n{fence}"


def _is_as_text(source):
    """Whether ``source`` is exactly what :func:`_as_text` makes of some text (already inert)."""
    m = _AS_TEXT.fullmatch(source)
    return m is not None and _as_text(m.group(2)) == source


def _attachments(cell):
    safe = {}
    atts = cell.get("attachments") if isinstance(cell.get("attachments"), dict) else {}
    for name, bundle in list(atts.items())[:20]:
        if not (isinstance(name, str) and isinstance(bundle, dict)):
            continue
        for mime in SAFE_ATTACHMENTS:
            data = bundle.get(mime)
            if (
                isinstance(data, str)
                and len(data) <= MAX_PNG_BYTES * 2
                and _BASE64.fullmatch(data.encode("ascii", "replace"))
            ):
                safe[name[:MAX_META_CHARS]] = {mime: data}
                break
    return safe


def _cell_metadata(meta):
    meta = meta if isinstance(meta, dict) else {}
    safe = {}
    if isinstance(meta.get("nbgrader"), dict):
        safe["nbgrader"] = _plain(meta["nbgrader"])  # replaced by the instructor's before grading
    for key in ("editable", "deletable"):
        if isinstance(meta.get(key), bool):
            safe[key] = meta[key]
    if isinstance(meta.get("tags"), list):
        # nbconvert writes tags unescaped into a class attribute: plain names only
        safe["tags"] = [t for t in meta["tags"][:20] if isinstance(t, str) and _TAG.fullmatch(t)]
    if isinstance(meta.get("jupyter"), dict):
        flags = {k: v for k, v in meta["jupyter"].items() if k in ("source_hidden", "outputs_hidden")}
        safe["jupyter"] = {k: v for k, v in flags.items() if isinstance(v, bool)}
    return safe


def _plain(value, depth=0):
    """A bounded copy of JSON metadata: strings cut, at most 50 keys or items a level, 4 levels deep."""
    if isinstance(value, str):
        return value[:MAX_META_CHARS]
    if isinstance(value, bool | int | float) or value is None:
        return value
    if depth >= 4:
        return None
    if isinstance(value, dict):
        return {str(k)[:MAX_META_CHARS]: _plain(v, depth + 1) for k, v in list(value.items())[:50]}
    if isinstance(value, list):
        return [_plain(v, depth + 1) for v in value[:50]]
    return None


def _names(value, depth=0):
    """kernelspec / language_info: plain names and numbers only (templates write them into the page)."""
    if isinstance(value, dict) and depth < 2:
        kept = {str(k): _names(v, depth + 1) for k, v in list(value.items())[:20] if _TAG.fullmatch(str(k))}
        return {k: v for k, v in kept.items() if v is not None}
    if isinstance(value, str):
        return value if _NAME.fullmatch(value) else None
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


def instructor_markdown(unit_id, root=None):
    """The sources of the markdown cells the instructor wrote for unit ``unit_id`` of the course at
    ``root`` (its solutions and its released exercise): a set of str, empty for an unknown unit."""
    try:
        unit = course_units.get(unit_id, root)
    except (KeyError, OSError):
        return set()
    trusted = set()
    for folder in (unit.source_dir, unit.release_dir):
        for path in sorted(folder.glob("*.ipynb")) if folder.is_dir() else []:
            nb = json.loads(path.read_text(encoding="utf-8"))
            trusted |= {source_text(c) for c in nb.get("cells", []) if c.get("cell_type") == "markdown"}
    return trusted


class SanitiseNotebook(Preprocessor):
    """nbconvert preprocessor: the notebook made safe to render (see the module), a new one.

    Markdown stays markdown when its source is in ``trusted_markdown`` or is the instructor's for the
    unit that nbgrader names in the resources (the formgrader's ``assignment_id``, its converters'
    ``nbgrader.assignment``), in the course at ``CourseDirectory.root`` (nbgrader's default: here).
    """

    enabled = Bool(True).tag(config=True)  # nbconvert's preprocessors are off unless enabled
    trusted_markdown = List(Unicode(), help="sources of markdown cells the instructor wrote").tag(config=True)

    def _trusted(self, resources):
        trusted = set(self.trusted_markdown)
        named = resources.get("nbgrader") if isinstance(resources.get("nbgrader"), dict) else {}
        unit = resources.get("assignment_id") or named.get("assignment")
        if isinstance(unit, str) and unit:
            trusted |= instructor_markdown(unit, self.config.CourseDirectory.get("root") or os.getcwd())
        return trusted

    def preprocess(self, nb, resources):
        """``(nb, resources)`` -> ``(a sanitised copy of nb, resources)``; nb: nbformat v4, dict or NotebookNode."""
        trusted = self._trusted(resources if isinstance(resources, dict) else {})
        cells, ids = [], set()
        for cell in (nb.get("cells") or [])[:MAX_CELLS]:
            if not isinstance(cell, dict):
                continue
            kind = cell.get("cell_type")
            source = _bounded(cell.get("source", ""), MAX_SOURCE_CHARS)
            meta = _cell_metadata(cell.get("metadata"))
            if kind == "code":
                new = nbformat.v4.new_code_cell(source, metadata=meta)
                count = cell.get("execution_count")
                new.execution_count = count if isinstance(count, int) else None
                outs = cell.get("outputs") if isinstance(cell.get("outputs"), list) else []
                new.outputs = [o for o in map(_output, outs[:MAX_OUTPUTS]) if o is not None]
                if len(outs) > MAX_OUTPUTS:
                    new.outputs.append(
                        nbformat.v4.new_output(
                            "stream", name="stdout", text=f"[{len(outs) - MAX_OUTPUTS} more outputs removed]"
                        )
                    )
            elif kind == "markdown":
                inert = source in trusted or _is_as_text(source)
                new = nbformat.v4.new_markdown_cell(source if inert else _as_text(source), metadata=meta)
                if source in trusted and (atts := _attachments(cell)):
                    new.attachments = atts
            elif kind == "raw":
                new = nbformat.v4.new_raw_cell(source, metadata=meta)  # no format: nbconvert escapes it
            else:
                continue
            cid = cell.get("id")
            if isinstance(cid, str) and _CELL_ID.fullmatch(cid) and cid not in ids:
                new.id = cid
            ids.add(new.id)
            cells.append(new)
        meta = nb.get("metadata") if isinstance(nb.get("metadata"), dict) else {}
        out = nbformat.v4.new_notebook(cells=cells)
        kept = {k: _names(meta[k]) for k in ("kernelspec", "language_info") if isinstance(meta.get(k), dict)}
        kept |= {k: _plain(meta[k]) for k in ("nbgrader", "course") if isinstance(meta.get(k), dict)}
        out.metadata = nbformat.from_dict(kept)
        return out, resources


def sanitise_notebook(nb, trusted_markdown=()):
    """:class:`SanitiseNotebook` on a notebook outside nbconvert: a safe copy of ``nb``.

    trusted_markdown: sources of markdown cells the instructor wrote (kept as markdown); any other
    markdown cell is shown as text.
    """
    return SanitiseNotebook(trusted_markdown=list(trusted_markdown)).preprocess(nb, {})[0]
