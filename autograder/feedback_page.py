"""The feedback page nbgrader's template makes, readable on a laptop and with no network.

``FeedbackExporter`` is the HTMLExporter that ``gradkit feedback`` gives nbgrader's
GenerateFeedback. Against the stock page it

- draws math (``$…$``, ``$$…$$``, ``\\(…\\)``, ``\\begin{…}``) as MathML, which browsers lay
  out themselves: no script (the page's CSP allows none) and nothing fetched. When
  latex2mathml (PyPI) is not installed, or cannot read a formula, the TeX source is shown
  as code instead, delimiters and all;
- takes every <script> out (the template's MathJax from a CDN: blocked by the CSP anyway,
  but a student's page should not even ask for it);
- wraps long lines in code, outputs and text instead of running off the right edge, in a
  column a laptop shows whole;
- opens with the notes the grader has for that student (``notes``: a renamed notebook
  graded as the expected one).
"""

from __future__ import annotations

import html
import re
import xml.etree.ElementTree as ET

from jinja2 import pass_context
from nbconvert.exporters import HTMLExporter
from nbconvert.filters.markdown_mistune import IPythonRenderer, MarkdownWithMath
from traitlets import Dict, List, Unicode

MATHML = "http://www.w3.org/1998/Math/MathML"
# MathML elements and attributes latex2mathml writes that only lay out: a formula with
# anything else (an href, an element of HTML's) is shown as its source.
ELEMENTS = frozenset(
    "math mrow mi mn mo ms mtext mspace msub msup msubsup mfrac msqrt mroot mstyle mtable "
    "mtr mtd mover munder munderover menclose mpadded mphantom merror mmultiscripts "
    "mprescripts none semantics annotation".split()
)
ATTRIBUTES = frozenset(
    "display fence stretchy separator mathvariant linebreak width height depth lspace "
    "rspace accent accentunder minsize maxsize movablelimits symmetric form largeop "
    "scriptlevel displaystyle columnalign columnspacing columnlines rowspacing rowalign "
    "rowlines frame framespacing notation linethickness bevelled encoding "
    "class".split()
)

STYLE = """<style type="text/css">
/* gradkit: readable on a laptop, long lines wrapped, never cut */
div.container, div#notebook-container { width: auto; max-width: 72em; }
pre, code, kbd, samp, .highlight pre, div.output_area pre, div.output_text pre {
  white-space: pre-wrap !important; overflow-wrap: anywhere; word-break: normal !important;
}
.rendered_html, .text_cell_render, .panel-heading, td, th, li, p {
  overflow-wrap: anywhere; word-break: normal;
}
div.output_subarea, div.input_area, .rendered_html { max-width: 100%; overflow-x: auto; }
img, svg { max-width: 100%; height: auto; }
math[display="block"] { display: block; margin: 0.6em 0; padding: 0.2em 0; overflow-x: auto;
  overflow-y: hidden; }
math { font-size: 1.1em; }
code.tex { color: #333; background: #f4f4f4; padding: 0 0.2em; }
pre.tex { background: #f4f4f4; }
div.gradkit-notes { margin: 0 auto 1em; max-width: 72em; padding: 0.6em 1em;
  border: 1px solid #e0c36a; background: #fff8dc; border-radius: 4px; }
@media (max-width: 60em) { div.prompt { display: none; } }
</style>
"""
SCRIPT = re.compile(r"<script\b[^>]*>.*?</script\s*>", re.IGNORECASE | re.DOTALL)
BODY = re.compile(r"<body\b[^>]*>", re.IGNORECASE)
HEAD_END = re.compile(r"</head\s*>", re.IGNORECASE)


def tex_to_html(tex: str, display: bool = False, source: str | None = None) -> str:
    """MathML for ``tex`` if it can be drawn safely, else ``source`` (default: ``$tex$`` or
    ``$$tex$$``) as code."""
    delimiter = "$$" if display else "$"
    source = f"{delimiter}{tex}{delimiter}" if source is None else source
    mathml = _mathml(tex, display)
    if mathml:
        return mathml
    if display:
        return f'<pre class="tex">{html.escape(source)}</pre>'
    return f'<code class="tex">{html.escape(source)}</code>'


def _mathml(tex: str, display: bool) -> str:
    """MathML of ``tex`` by latex2mathml, checked element by element; "" when it cannot be."""
    try:
        from latex2mathml.converter import convert
    except ImportError:
        return ""
    # latex2mathml copies text as it is: <, > and & must not reach it as markup
    tex = tex.replace("<", r"\lt ").replace(">", r"\gt ")
    try:
        root = ET.fromstring(convert(tex, display="block" if display else "inline"))
    except Exception:  # latex2mathml's own errors, or markup ElementTree cannot read
        return ""
    for element in root.iter():
        namespace, _, name = element.tag.rpartition("}")
        if namespace != "{" + MATHML or name not in ELEMENTS:
            return ""
        if any(attr not in ATTRIBUTES for attr in element.attrib):
            return ""
        if "\\" in (element.text or ""):
            return ""  # a command latex2mathml does not know (\foo), or \lt in \text{}
    ET.register_namespace("", MATHML)
    return ET.tostring(root, encoding="unicode", short_empty_elements=False)


class MathRenderer(IPythonRenderer):
    """nbconvert's markdown renderer, with math drawn by ``tex_to_html``."""

    def block_math(self, body: str) -> str:
        return tex_to_html(body, display=True)

    def inline_math(self, body: str) -> str:
        return tex_to_html(body)

    def latex_environment(self, name: str, body: str) -> str:
        tex = f"\\begin{{{name}}}{body}\\end{{{name}}}"
        return tex_to_html(tex, display=True, source=tex)

    def multiline_math(self, text: str) -> str:  # older mistune: the paragraph as it is
        return text


class FeedbackExporter(HTMLExporter):
    """HTMLExporter for feedback pages: MathML, no script, wrapped lines, notes on top."""

    notes = Dict(
        key_trait=Unicode(),
        value_trait=List(Unicode()),
        help="student id -> lines shown at the top of each of their feedback pages",
    ).tag(config=True)

    @pass_context
    def markdown2html(self, context, source):
        """As HTMLExporter's filter, with math drawn by MathRenderer."""
        cell = context.get("cell", {})
        renderer = MathRenderer(
            escape=False,
            attachments=cell.get("attachments", {}),
            embed_images=self.embed_images,
            path=context.get("resources", {}).get("metadata", {}).get("path", ""),
            anchor_link_text=self.anchor_link_text,
            exclude_anchor_links=self.exclude_anchor_links,
            **self.lexer_options,
        )
        return MarkdownWithMath(renderer=renderer).render(source)

    def from_notebook_node(self, nb, resources=None, **kw):
        output, resources = super().from_notebook_node(nb, resources, **kw)
        student = (resources or {}).get("nbgrader", {}).get("student", "")
        return finish(output, self.notes.get(student, [])), resources


def finish(page: str, notes: list[str] = ()) -> str:
    """``page`` without scripts, with the wrapping style and ``notes`` at the top."""
    page = SCRIPT.sub("", page)
    head = HEAD_END.search(page)
    page = page[: head.start()] + STYLE + page[head.start() :] if head else STYLE + page
    if notes:
        box = "".join(f"<p>{html.escape(note)}</p>" for note in notes)
        body = BODY.search(page)
        at = body.end() if body else len(page)
        page = page[:at] + f'\n<div class="gradkit-notes">{box}</div>\n' + page[at:]
    return page
