"""SanitizeOutputs: nothing a student wrote or printed runs as HTML in a TA's browser.

Feedback (nbconvert HTML) and formgrader render the autograded notebook, and both inline
rich outputs (text/html, JavaScript, SVG, markdown, widget state) and markdown cells as
live HTML. This keeps of every output only text/plain and base64 PNG/JPEG, shows removed
rich output as text, keeps only PNG/JPEG attachments, and passes markdown and raw cells
that are not the instructor's through ``autograder.safe_markdown``.

A cell is the instructor's when it is locked and has a grade_id: OverwriteCells, which
runs before execution, drops grade_ids the gradebook does not know and restores the
source of known locked cells, so a student cannot forge one.
"""

from __future__ import annotations

import json
import re

from nbformat import from_dict
from nbformat.v4 import new_markdown_cell
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Int

from autograder import safe_markdown

IMAGES = ("image/png", "image/jpeg")
ANSI = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07]*\x07|[@-Z\\-_])")
OUTPUT_TYPES = {"stream", "display_data", "execute_result", "error"}
BASE64 = re.compile(r"[A-Za-z0-9+/=\s]*")
GENERIC_REPR = re.compile(r"<[\w.]+ object( at 0x[0-9a-fA-F]+)?>")  # e.g. IPython's HTML
SHOWN_FIRST = ("text/html", "text/markdown", "text/latex", "image/svg+xml",
               "application/javascript")  # fmt: skip


class SanitizeOutputs(NbGraderPreprocessor):
    """Reduce outputs to text and bitmaps; neutralize student markdown and raw cells."""

    max_text_chars = Int(
        2000, help="How many characters of a removed rich output are shown as text."
    ).tag(config=True)

    def preprocess(self, nb, resources):
        nb.metadata.pop("widgets", None)  # widget state that the HTML exporter would render
        return super().preprocess(nb, resources)

    def preprocess_cell(self, cell, resources, index):
        if "attachments" in cell:
            cell.attachments = from_dict(_images(cell.attachments))
        if cell.cell_type == "code":
            cell.execution_count = _count(cell.get("execution_count"))
            cell.outputs = [
                self._output(out) for out in cell.get("outputs", [])
                if out.get("output_type") in OUTPUT_TYPES
            ]  # fmt: skip
        elif _instructors(cell):
            pass
        elif cell.cell_type == "markdown":
            cell.source = safe_markdown.neutralize(cell.source, cell.get("attachments"))
        else:  # raw (or unknown) cells: the exporter may pass them on as HTML
            metadata = {
                k: v for k, v in cell.metadata.items() if k not in ("format", "raw_mimetype")
            }
            shown = new_markdown_cell(safe_markdown.as_source(str(cell.get("source", ""))),
                                      metadata=metadata)  # fmt: skip
            if "id" in cell:
                shown.id = cell.id
            cell = shown
        return cell, resources

    def _output(self, out):
        """The output with rich data replaced by text and its metadata cleared."""
        if "execution_count" in out:
            out.execution_count = _count(out.execution_count)
        if out.output_type == "stream":
            out.text = _plain(out.get("text", ""))
        if out.output_type == "error":
            out.evalue = _plain(out.get("evalue", ""))
            out.traceback = [_plain(line) for line in out.get("traceback", [])]
        if out.output_type not in ("display_data", "execute_result"):
            return out  # streams and errors are rendered as escaped text
        data = out.get("data", {})
        kept = {m: v for m, v in data.items() if m == "text/plain" and isinstance(v, str)}
        kept.update((m, data[m]) for m in IMAGES if _base64(data.get(m)))
        removed = [m for m in data if m not in kept]
        plain = kept.get("text/plain")
        if removed and (plain is None or GENERIC_REPR.fullmatch(plain.strip())):
            kept["text/plain"] = self._as_text(data, removed)
        out.data = from_dict(kept)
        out.metadata = {}  # the exporter inlines e.g. image sizes from it
        return out

    def _as_text(self, data, removed):
        """A note naming the removed MIME type, then its source (truncated)."""
        rank = {m: i for i, m in enumerate(SHOWN_FIRST)}
        mime = min(removed, key=lambda m: rank.get(m, len(rank)))
        value = data[mime]
        text = value if isinstance(value, str) else json.dumps(value, default=str)
        if len(text) > self.max_text_chars:
            text = text[: self.max_text_chars] + "\n… [truncated]"
        return f"[student {mime[:80]} output removed: shown as text]\n{text}"


def _plain(text) -> str:
    """Text without terminal escape sequences: nbconvert's ansi2html fails on some
    ("\\x1b[38m"), and one such page stopped the feedback of the whole class."""
    text = "".join(text) if isinstance(text, list) else str(text)
    return ANSI.sub("", text).replace("\x1b", "")


def _instructors(cell) -> bool:
    """Is this a locked cell the gradebook knows (see the module docstring)?"""
    meta = cell.metadata.get("nbgrader")
    return isinstance(meta, dict) and meta.get("locked") is True and bool(meta.get("grade_id"))


def _images(attachments) -> dict:
    """Attachments reduced to their base64 PNG/JPEG data; others dropped."""
    if not isinstance(attachments, dict):
        return {}
    kept = {}
    for name, bundle in attachments.items():
        images = {
            m: bundle[m] for m in IMAGES if isinstance(bundle, dict) and _base64(bundle.get(m))
        }
        if images:
            kept[name] = images
    return kept


def _base64(value) -> bool:
    """Is this image data plain base64, safe to put inside a data: URL?"""
    return isinstance(value, str) and BASE64.fullmatch(value) is not None


def _count(value):
    """An execution count as the template expects it: an int or None."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None
