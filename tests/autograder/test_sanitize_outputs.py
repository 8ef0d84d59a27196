"""Does student HTML or JavaScript stay inert in the feedback page and in formgrader?

Each notebook carries one attack a student can put in a submission; SanitizeOutputs runs
on it as autograde and feedback run it (no kernel), then the result is checked as data and
as the HTML nbconvert makes of it.
"""

import base64
import copy
import os
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest
from nbconvert import HTMLExporter
from nbformat.v4 import (
    new_code_cell,
    new_markdown_cell,
    new_notebook,
    new_output,
    new_raw_cell,
)
from nbgrader.server_extensions import formgrader

from autograder import safe_markdown
from autograder.course import RELEASE
from autograder.feedback import CSP, add_csp
from autograder.preprocessors import SanitizeOutputs

SCRIPT = '<script>alert("pwned-xyz")</script>'
IMG = "<img src=x onerror=pwned_img()>"
SVG = '<svg xmlns="http://www.w3.org/2000/svg" onload="alert(\'pwned-svg\')"><rect/></svg>'
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n fake image bytes").decode()
KEPT_TYPES = {"text/plain", "image/png", "image/jpeg"}


def display(data, metadata=None):
    return new_output("display_data", data=data, metadata=metadata or {})


def sanitized(*cells, metadata=None):
    nb = new_notebook(metadata=metadata or {})
    nb.cells = list(cells)  # unvalidated: a submission need not follow the schema
    nb, _ = SanitizeOutputs().preprocess(nb, {})
    return nb


def only_output(nb):
    (out,) = nb.cells[0].outputs
    return out


def locked(cell, grade_id="intro"):
    cell.metadata["nbgrader"] = {"locked": True, "grade_id": grade_id, "grade": False,
                                 "solution": False, "schema_version": 3}  # fmt: skip
    return cell


FORMGRADER = Path(formgrader.__file__).parent
PAGE_RESOURCES = {  # what GenerateFeedback and formgrader pass their templates
    "nbgrader": {"notebook": "nb", "score": 1, "max_score": 2, "late_penalty": 0},
    "notebook_id": "nb", "assignment_id": "a", "submission_id": "s", "notebook_path": "p",
    "student": "s", "first_name": "f", "last_name": "l", "index": 0, "total": 1,
    "base_url": "/",
}  # fmt: skip


def html_of(nb, template="classic") -> str:
    """The page nbconvert makes: plain, as nbgrader's feedback, or as formgrader's view."""
    exporter = HTMLExporter(
        template_name=template,
        extra_template_basedirs=[str(FORMGRADER / "templates")],
        extra_template_paths=[str(FORMGRADER / "static/node_modules/bootstrap/dist/css")],
    )
    body, _ = exporter.from_notebook_node(nb, resources=copy.deepcopy(PAGE_RESOURCES))
    return body


@pytest.mark.parametrize(
    "mime, payload",
    [
        ("text/html", SCRIPT),
        ("text/html", IMG),
        ("application/javascript", 'alert("pwned-js")'),
        ("image/svg+xml", SVG),
        ("text/markdown", f"# hi {IMG}"),
        ("text/latex", r"$\href{javascript:alert(1)}{x}$"),
        ("application/vnd.jupyter.widget-view+json", {"model_id": "m", "version_major": 2}),
    ],
)
def test_rich_output_becomes_its_text(mime, payload):
    """Is a rich output reduced to text/plain that still shows the student what it held?"""
    generic = "<IPython.core.display.HTML object>"
    outputs = [display({mime: payload, "text/plain": generic})]
    out = only_output(sanitized(new_code_cell(outputs=outputs)))
    assert set(out.data) == {"text/plain"}
    shown = out.data["text/plain"]
    assert shown.startswith(f"[student {mime} output removed: shown as text]")
    assert (payload if isinstance(payload, str) else '"model_id": "m"') in shown


def test_meaningful_text_is_kept_over_html():
    """A repr with content (a table, a GradCheckReport) is kept instead of the HTML source."""
    out = only_output(sanitized(new_code_cell(outputs=[
        new_output("execute_result", data={"text/html": SCRIPT, "text/plain": "   a  b\n0  1  2"},
                   execution_count=3)])))  # fmt: skip
    assert out.data == {"text/plain": "   a  b\n0  1  2"}
    assert out.execution_count == 3


def test_long_html_is_truncated():
    out = only_output(sanitized(new_code_cell(outputs=[display({"text/html": "<b>x</b>" * 2000})])))
    assert len(out.data["text/plain"]) < 2200
    assert out.data["text/plain"].endswith("… [truncated]")


def test_bitmaps_text_and_streams_survive():
    """Do PNG/JPEG (as base64), plain text, streams and errors come through unchanged?"""
    outputs = [
        display({"image/png": PNG, "image/jpeg": PNG, "text/plain": "<Figure>"}),
        new_output("stream", name="stdout", text="hello <b>\n"),
        new_output("error", ename="ValueError", evalue="bad", traceback=["ValueError: bad"]),
    ]
    nb = sanitized(new_code_cell("print('hello')", outputs=outputs, execution_count=1))
    image, stream, error = nb.cells[0].outputs
    assert image.data == {"image/png": PNG, "image/jpeg": PNG, "text/plain": "<Figure>"}
    assert stream.text == "hello <b>\n"
    assert (error.ename, error.traceback) == ("ValueError", ["ValueError: bad"])
    assert nb.cells[0].execution_count == 1


def test_image_data_and_metadata_cannot_break_out_of_the_img_tag():
    """Non-base64 "PNG" data is dropped; output metadata (inlined width/height) is cleared."""
    out = only_output(sanitized(new_code_cell(outputs=[display(
        {"image/png": f'x">{SCRIPT}', "image/jpeg": PNG},
        metadata={"image/jpeg": {"width": '1 onerror=alert("pwned-w")'}})])))  # fmt: skip
    assert set(out.data) == {"image/jpeg", "text/plain"}
    assert out.metadata == {}


def test_execution_count_must_be_a_number():
    """The template inlines the prompt number unescaped: a string from the kernel goes."""
    cell = new_code_cell(outputs=[new_output("execute_result", data={"text/plain": "1"})])
    cell.execution_count = cell.outputs[0].execution_count = SCRIPT
    nb = sanitized(cell)
    assert nb.cells[0].execution_count is None
    assert only_output(nb).execution_count is None


def test_widget_state_is_dropped():
    nb = sanitized(
        new_code_cell(), metadata={"widgets": {"application/vnd.jupyter.widget-state+json": {}}}
    )
    assert "widgets" not in nb.metadata


@pytest.mark.parametrize(
    "source",
    [
        f"My answer {SCRIPT}",
        f"See {IMG}",
        "[click](javascript:alert(1))",
        "[click](JaVaScRiPt&#58;alert(1))",
        "<javascript:alert(1)>",
        f"```mermaid\n{IMG}\n```",
    ],
)
def test_student_markdown_with_html_is_shown_as_source(source):
    """Is student markdown holding HTML or a script link shown verbatim, in a code block?"""
    (cell,) = sanitized(new_markdown_cell(source)).cells
    assert cell.source.startswith(safe_markdown.NOTE)
    assert source in cell.source
    assert safe_markdown.is_inert(cell.source)
    assert not safe_markdown.is_inert(source)


def test_plain_student_markdown_and_math_are_untouched():
    source = (
        "## Why\n\nBecause $\\epsilon < 10^{-7}$ and $a<b$; see [notes](https://x.org).\n\n- *ok*"
    )
    assert sanitized(new_markdown_cell(source)).cells[0].source == source


def test_raw_cell_becomes_markdown_showing_its_source():
    raw = new_raw_cell(SCRIPT, metadata={"raw_mimetype": "text/html", "format": "text/html"})
    (cell,) = sanitized(raw).cells
    assert cell.cell_type == "markdown"
    assert "raw_mimetype" not in cell.metadata and "format" not in cell.metadata
    assert SCRIPT in cell.source and safe_markdown.is_inert(cell.source)
    nbformat.validate(new_notebook(cells=[cell]))


def test_only_bitmap_attachments_are_kept():
    cell = new_markdown_cell("![plot](attachment:plot.png)")
    cell.attachments = {
        "plot.png": {"image/png": PNG, "text/html": SCRIPT},
        "evil.svg": {"image/svg+xml": SVG},
        "page.html": {"text/html": SCRIPT},
    }
    (cell,) = sanitized(cell).cells
    assert cell.attachments == {"plot.png": {"image/png": PNG}}
    assert cell.source == "![plot](attachment:plot.png)"


def test_markdown_pointing_at_a_dropped_attachment_is_shown_as_source():
    cell = new_markdown_cell("![x](attachment:evil.svg)")
    cell.attachments = {"evil.svg": {"image/svg+xml": SVG}}
    (cell,) = sanitized(cell).cells
    assert cell.source.startswith(safe_markdown.NOTE)
    html_of(new_notebook(cells=[cell]))  # renders, instead of failing on the missing image


def test_locked_instructor_markdown_is_untouched():
    """The instructor's locked cells may hold HTML; a forged lock without grade_id may not."""
    source = '<div class="alert alert-info">Read <b>this</b> first.</div>'
    instructor, forged = locked(new_markdown_cell(source)), new_markdown_cell(SCRIPT)
    forged.metadata["nbgrader"] = {"locked": True}
    nb = sanitized(instructor, forged)
    assert nb.cells[0].source == source
    assert nb.cells[1].source.startswith(safe_markdown.NOTE)


def test_release_markdown_would_render_unchanged_even_unlocked():
    """No false alarm: every markdown cell of the course's release notebooks is inert."""
    cells = [c for nb in sorted(RELEASE.glob("*/*.ipynb")) for c in nbformat.read(nb, 4).cells
             if c.cell_type == "markdown"]  # fmt: skip
    assert cells
    assert [c.source[:60] for c in cells if not safe_markdown.is_inert(c.source)] == []


def attack_notebook():
    """One notebook with every attack, as a student could submit it."""
    md_attachment = new_markdown_cell(f"Answer: {IMG}\n\n{SCRIPT}")
    md_attachment.attachments = {"a.html": {"text/html": SCRIPT}}
    outputs = [
        display({"text/html": SCRIPT, "text/plain": "<IPython.core.display.HTML object>"}),
        display({"application/javascript": 'alert("pwned-js")'}),
        display({"image/svg+xml": SVG}),
        display({"text/html": IMG}),
        display({"text/markdown": f"**md** {IMG}"}),
        display({"image/png": PNG}),
    ]
    return new_notebook(cells=[
        new_code_cell("show()", outputs=outputs, execution_count=1),
        md_attachment,
        new_markdown_cell("[click me](javascript:alert('pwned-link'))"),
        new_raw_cell(SCRIPT, metadata={"raw_mimetype": "text/html"}),
    ])  # fmt: skip


class LiveMarkup(HTMLParser):
    """What a browser would run of a page: handlers, script links, scripts naming a payload."""

    def __init__(self):
        super().__init__()
        self.found, self.in_script = [], False

    def handle_starttag(self, tag, attrs):
        self.in_script = tag == "script"
        for name, value in attrs:
            url = (value or "").strip().lower()
            if (name.startswith("on") and "pwned" in (value or "")) or url.startswith(
                ("javascript:", "data:text/html")
            ):
                self.found.append(f"<{tag} {name}={value}>")
        if tag in ("svg", "iframe", "object", "embed"):
            self.found.append(f"<{tag}>")

    def handle_data(self, data):
        if self.in_script and ("pwned" in data or "alert" in data):
            self.found.append(f"<script>{data.strip()}")


def live_markup(page: str) -> list[str]:
    scanner = LiveMarkup()
    scanner.feed(page)
    return scanner.found


@pytest.mark.parametrize("template", ["classic", "feedback", "formgrade"])
def test_exported_html_carries_no_live_payload(template):
    """The page nbconvert makes of the sanitized notebook has the text but no live markup."""
    nb = attack_notebook()
    before = live_markup(html_of(nb, template))
    for attack in ['alert("pwned-xyz")', 'alert("pwned-js")', "onerror=pwned_img()", "javascript:"]:
        assert any(attack in found for found in before), attack  # live without sanitizing
    nb, _ = SanitizeOutputs().preprocess(nb, {})
    after = html_of(nb, template)
    assert live_markup(after) == []
    assert SCRIPT not in after and "<svg" not in after and IMG not in after
    assert "&lt;script&gt;alert(" in after and "pwned-xyz" in after  # shown, escaped
    assert f"data:image/png;base64,{PNG}" in after


def test_sanitized_bundles_hold_only_safe_types():
    nb, _ = SanitizeOutputs().preprocess(attack_notebook(), {})
    for out in nb.cells[0].outputs:
        assert set(out.get("data", {})) <= KEPT_TYPES
    for cell in nb.cells[1:]:
        assert cell.cell_type == "markdown" and safe_markdown.is_inert(cell.source)
        assert all(set(b) <= KEPT_TYPES for b in cell.get("attachments", {}).values())


PAGE = (
    b'<!DOCTYPE html>\n<html>\n<head>\n<meta charset="utf-8" />\n<script src="x.js"></script>\n'
    b"</head><body><p>Score 3 / 5</p></body></html>"
)


def test_csp_goes_first_in_head(tmp_path):
    page = tmp_path / "nb.html"
    page.write_bytes(PAGE)
    page.chmod(0o644)
    assert add_csp(page)
    text = page.read_text()
    assert text.startswith(f"<!DOCTYPE html>\n<html>\n<head>{CSP}\n<meta charset")
    assert text.index(CSP) < text.index("<script") and "Score 3 / 5" in text
    assert "script-src" not in CSP and "default-src 'none'" in CSP
    assert page.stat().st_mode & 0o777 == 0o644
    assert add_csp(page) and page.read_text().count("Content-Security-Policy") == 1


def test_csp_on_a_real_feedback_page(tmp_path):
    """The exported page, with the policy, still holds the student's text before any script."""
    nb, _ = SanitizeOutputs().preprocess(attack_notebook(), {})
    page = tmp_path / "nb.html"
    page.write_text(html_of(nb, "feedback"))
    assert add_csp(page)
    text = page.read_text()
    assert text.index(CSP) < text.index("<script") and "pwned-xyz" in text


def test_csp_skips_symlinks_and_fifos(tmp_path):
    """A link is not followed (its target is unchanged) and a FIFO does not hang it."""
    target = tmp_path / "elsewhere.html"
    target.write_bytes(PAGE)
    link = tmp_path / "feedback.html"
    link.symlink_to(target)
    fifo = tmp_path / "fifo.html"
    os.mkfifo(fifo)
    assert not add_csp(link) and not add_csp(fifo)
    assert target.read_bytes() == PAGE and link.is_symlink()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["elsewhere.html", "feedback.html",
                                                          "fifo.html"]  # fmt: skip


def test_csp_on_a_page_without_head(tmp_path):
    page = tmp_path / "bare.html"
    page.write_bytes(b"<p>hi</p>")
    assert add_csp(page) and Path(page).read_bytes() == CSP.encode() + b"<p>hi</p>"


def test_terminal_escapes_are_stripped_so_every_page_renders():
    from nbconvert import HTMLExporter
    from nbformat.v4 import new_code_cell, new_notebook, new_output

    from autograder import safe_markdown
    from autograder.preprocessors import SanitizeOutputs

    cell = new_code_cell("print('x')")
    cell.outputs = [
        new_output("stream", name="stdout", text="\x1b[38mX\x1b]0;t\x07 done\n"),
        new_output("error", ename="E", evalue="\x1b[38m!", traceback=["\x1b[38mtb"]),
    ]
    nb, _ = SanitizeOutputs().preprocess(new_notebook(cells=[cell]), {})
    assert "\x1b" not in str(nb.cells[0].outputs)
    assert "X done" in nb.cells[0].outputs[0].text
    HTMLExporter().from_notebook_node(nb)  # raised IndexError in ansi2html before
    big = "| a | b |\n|---|---|\n" + "| 1 | 2 |\n" * 400_000
    start = __import__("time").monotonic()
    shown = safe_markdown.neutralize(big)
    assert __import__("time").monotonic() - start < 5.0
    assert "more characters not shown" in shown and len(shown) < 30_000
