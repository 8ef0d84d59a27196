"""Student markdown that stays inert when nbconvert renders it, else shown as its source.

Escaping markdown by hand misses tricks (entities, ``javascript:`` links, unclosed tags),
so this renders the source with nbconvert's own markdown renderer, the one feedback and
formgrader use, and accepts it only if it holds no raw HTML and every tag of the result
is one that renderer writes for plain markdown, in its canonical form, with safe
attributes and URLs. Math stays: it is rendered as escaped text, which MathJax typesets
in its Safe mode.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

from nbconvert.filters.markdown_mistune import IPythonRenderer, MarkdownWithMath

TAGS = set(
    "p a img em strong code pre h1 h2 h3 h4 h5 h6 ul ol li blockquote hr br del table thead "
    "tbody tr th td div span input dl dt dd".split()
)
ATTRS = {"class", "id", "href", "src", "alt", "title", "start", "style", "type", "disabled",
         "checked"}  # fmt: skip
URL_ATTRS = {"href", "src"}
C0 = "".join(map(chr, range(33)))  # what a browser strips around a URL
SCHEMES = ("http", "https", "mailto")
IMAGE_DATA = ("data:image/png;base64,", "data:image/jpeg;base64,")
STYLE = re.compile(r"text-align:\s*(left|right|center);?")
# A start tag as mistune/pygments write it: lower-case names, double-quoted values.
CANONICAL = re.compile(r'<[a-z0-9]+(\s+[a-z-]+(="[^"<>`]*")?)*\s*/?>')
MAX_CHARS = 20_000  # a student markdown cell longer than this is shown cut, as source
NOTE = "*[student markdown shown as source: it held HTML or an unsafe link]*"


class _Renderer(IPythonRenderer):
    """nbconvert's renderer, noting (and dropping) raw HTML instead of passing it on."""

    raw_html = False

    def block_html(self, html):
        self.raw_html = True
        return ""

    inline_html = block_html


class _Checker(HTMLParser):
    """Walks rendered HTML; ``ok`` turns False at the first thing not known to be inert."""

    def __init__(self):
        super().__init__(convert_charrefs=False)  # a raw "<" in text must reach handle_data
        self.ok = True

    def handle_starttag(self, tag, attrs):
        if tag not in TAGS or not CANONICAL.fullmatch(self.get_starttag_text() or ""):
            self.ok = False
        for name, value in attrs:
            if name not in ATTRS or not _safe_value(tag, name, value or ""):
                self.ok = False

    def handle_endtag(self, tag):
        self.ok &= tag in TAGS

    def handle_data(self, data):
        self.ok &= "<" not in data  # the browser may read it as a tag this parser did not

    def handle_comment(self, data):
        self.ok = False

    handle_decl = handle_pi = unknown_decl = handle_comment


def _safe_value(tag: str, name: str, value: str) -> bool:
    """Is this (already entity-decoded) attribute value harmless?"""
    if name == "style":
        return bool(STYLE.fullmatch(value))
    if name not in URL_ATTRS:
        return True
    url = re.sub(r"[\t\n\r]", "", value).strip(C0).lower()  # as a browser reads it
    if tag == "img" and url.startswith(IMAGE_DATA):
        return True
    scheme = re.match(r"([^/?#]*):", url)
    return scheme is None or scheme.group(1) in SCHEMES


def is_inert(source: str, attachments: dict | None = None) -> bool:
    """Does nbconvert render this markdown to HTML without scripts, handlers or bad links?"""
    renderer = _Renderer(escape=False, attachments=attachments or {})
    try:
        html = MarkdownWithMath(renderer=renderer).render(source)
    except Exception:  # e.g. a missing attachment: nbconvert would fail on it too
        return False
    checker = _Checker()
    checker.feed(html)
    checker.close()
    return checker.ok and not renderer.raw_html


def as_source(source: str) -> str:
    """Markdown that shows ``source`` verbatim: a note and a fenced code block."""
    runs = [len(r) for r in re.findall(r"`+", source)]
    fence = "`" * max(3, max(runs, default=0) + 1)
    return f"{NOTE}\n\n{fence}\n{source}\n{fence}\n"


def neutralize(source: str, attachments: dict | None = None) -> str:
    """``source`` when it renders inert, else its verbatim form (cut to MAX_CHARS: rendering
    costs ~7 µs a character, and a student's megabytes must not stall the grader)."""
    if len(source) > MAX_CHARS:
        cut = len(source) - MAX_CHARS
        shown = as_source(source[:MAX_CHARS] + f"\n… [{cut} more characters not shown]")
        return shown if is_inert(shown) else NOTE
    if is_inert(source, attachments):
        return source
    shown = as_source(source)
    return shown if is_inert(shown) else NOTE
