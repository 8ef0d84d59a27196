"""Is a feedback page readable on a laptop without a network: long lines wrapped, math
drawn (MathML, no script) or shown as readable TeX, and nothing loaded from elsewhere?"""

import copy
import re
import shutil
import sys
from pathlib import Path

import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from autograder import feedback_page
from autograder.feedback import CSP
from autograder.feedback_page import FeedbackExporter, finish, tex_to_html

FORMGRADER = Path(pytest.importorskip("nbgrader.server_extensions.formgrader").__file__).parent
RESOURCES = {"nbgrader": {"notebook": "nb", "score": 1, "max_score": 2, "late_penalty": 0,
                          "student": "s1"}}  # fmt: skip
LONG = "✗ dW2: relative difference 3.3e-01; worst dW2[1, 0]: yours 0.52 vs numeric 0.26 " * 4
REPO = Path(__file__).resolve().parents[2]


def _latex2mathml():
    import latex2mathml  # a dependency of the kit (pyproject.toml): never skipped

    return latex2mathml


def _no_latex2mathml(monkeypatch):
    monkeypatch.setitem(sys.modules, "latex2mathml.converter", None)  # import fails


def _notebook():
    return new_notebook(cells=[
        new_markdown_cell(r"The relative difference $\frac{\|a - b\|_2}{\|a\|_2 + \|b\|_2}$ "
                          r"and a display: $$J(\theta) = \sum_k \theta_k^2$$"),
        new_code_cell("print(report)", outputs=[new_output("stream", name="stdout",
                                                           text=LONG)]),
    ])  # fmt: skip


def _page(notes=None) -> str:
    exporter = FeedbackExporter(
        template_name="feedback",
        extra_template_basedirs=[str(FORMGRADER / "templates")],
        extra_template_paths=[str(FORMGRADER / "static/node_modules/bootstrap/dist/css")],
        notes=notes or {},
    )
    body, _ = exporter.from_notebook_node(_notebook(), resources=copy.deepcopy(RESOURCES))
    return body


def _loads(page: str) -> list[str]:
    """What the page would fetch: src= and href= of scripts, links, images, frames."""
    tags = re.findall(r"<(?:script|link|img|iframe|embed|object|source)\b[^>]*>", page, re.I)
    return [u for tag in tags for u in re.findall(r'(?:src|href)\s*=\s*["\']?([^"\'\s>]+)', tag)]


def test_the_page_wraps_long_lines_in_a_laptop_wide_column():
    page = _page()
    style = page[page.index("gradkit: readable") :]
    assert re.search(r"pre, code[^{]*\{[^}]*white-space: pre-wrap !important;"
                     r"[^}]*overflow-wrap: anywhere", style)  # fmt: skip
    assert "max-width: 72em" in style
    assert LONG.strip()[:40] in page


def test_no_script_and_nothing_from_the_network():
    page = _page()
    assert "<script" not in page.lower()  # MathJax from the CDN included: taken out
    assert _loads(page) == []
    assert "cdnjs" not in page and not re.search(r"""(src|href)=["']?(https?:)?//""", page)


def test_math_is_drawn_as_mathml():
    _latex2mathml()
    page = _page()
    maths = re.findall(r"<math( [^>]*)>(.*?)</math>", page, re.S)
    assert len(maths) == 2 and all(f'xmlns="{feedback_page.MATHML}"' in a for a, _ in maths)
    (inline, fraction), (block, _) = maths
    assert 'display="inline"' in inline and "<mfrac>" in fraction
    assert 'display="block"' in block
    assert "$" not in re.sub(r"<[^>]+>", "", page.split("<body", 1)[1]).replace(LONG, "")


def test_without_latex2mathml_math_is_shown_as_readable_tex(monkeypatch):
    _no_latex2mathml(monkeypatch)
    page = _page()
    assert "<math" not in page
    assert r'<code class="tex">$\frac{\|a - b\|_2}{\|a\|_2 + \|b\|_2}$</code>' in page
    assert r'<pre class="tex">$$J(\theta) = \sum_k \theta_k^2$$</pre>' in page


@pytest.mark.parametrize(
    "tex",
    [r"\text{<script>alert(1)</script>}", r"\href{javascript:alert(1)}{x}",
     r"\text{a & b}", r"\unknowncommand{x}"],
)  # fmt: skip
def test_a_formula_that_cannot_be_drawn_safely_is_shown_as_source(tex):
    _latex2mathml()
    out = tex_to_html(tex)
    assert out.startswith('<code class="tex">') and "<script" not in out and "href=" not in out


def test_comparisons_are_math_not_markup():
    _latex2mathml()
    out = tex_to_html(r"a < b > c")
    assert out.startswith("<math") and "<mo>&lt;</mo>" in out and "<mo>&gt;</mo>" in out


def test_notes_open_the_students_page_only():
    note = "We graded your notebook copy.ipynb as nb.ipynb"
    page = _page({"s1": [note], "someone-else": ["not for s1"]})
    assert page.index(note) < page.index("Score") and "not for s1" not in page
    assert note not in _page({"someone-else": [note]})
    assert "&lt;b&gt;" in finish("<html><head></head><body></body></html>", ["<b>"])


@pytest.fixture
def chromium(tmp_path):
    """Headless Chromium under Selenium (Debian's binary and chromedriver), or a skip."""
    browser, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (browser and driver):
        pytest.skip("chromium/chromedriver not found: make test installs them as root")
    webdriver = pytest.importorskip("selenium.webdriver", reason="pip install -e '.[test]'")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                 "--window-size=1280,800", f"--user-data-dir={tmp_path / 'profile'}"):  # fmt: skip
        options.add_argument(flag)
    service = Service(executable_path=driver)
    chrome = webdriver.Chrome(options=options, service=service)
    try:
        yield chrome
    finally:
        chrome.quit()


@pytest.mark.slow
def test_in_a_browser_nothing_runs_off_the_right_edge_and_math_is_laid_out(chromium, tmp_path):
    try:
        import latex2mathml  # noqa: F401

        selector = "math"  # drawn by the browser
    except ImportError:
        selector = ".tex"  # its source, as code
    page = tmp_path / "nb.html"
    page.write_text(_page().replace("<head>", f"<head>{CSP}", 1))  # as gradkit feedback does
    artifacts = REPO / "test-artifacts" / "feedback"
    artifacts.mkdir(parents=True, exist_ok=True)
    for width in (1280, 800):
        chromium.set_window_size(width, 800)
        chromium.get(page.as_uri())
        inner, scroll = chromium.execute_script(
            "return [window.innerWidth, document.documentElement.scrollWidth]"
        )
        assert scroll <= inner, f"the page is {scroll} px wide in a {inner} px window"
        lines = chromium.execute_script(
            "const pre = [...document.querySelectorAll('div.output_area pre')][0];"
            "const r = pre.getBoundingClientRect();"
            "return [r.right, r.height, parseFloat(getComputedStyle(pre).lineHeight)];"
        )
        assert lines[0] <= inner and lines[1] > 2 * lines[2]  # the long line wraps
        sizes = chromium.execute_script(
            f"return [...document.querySelectorAll('{selector}')].map(m => {{"
            "const r = m.getBoundingClientRect(); return [r.width, r.height]; });"
        )
        assert len(sizes) == 2 and all(w > 20 and h > 10 for w, h in sizes)  # laid out
        chromium.save_screenshot(str(artifacts / f"feedback-{width}.png"))
    assert (feedback_page.MATHML in page.read_text()) == (selector == "math")


def test_a_notebook_nbgrader_cannot_render_is_one_line_not_a_traceback(tmp_path, capsys):
    from autograder import cli

    folder = tmp_path / "autograded" / "bob" / "04-backprop"
    folder.mkdir(parents=True)
    (folder / "04-backprop.ipynb").write_text("{ not a notebook")
    assert cli.main(["feedback", "04-backprop", "--course-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("gradkit: nbgrader could not write the feedback of every notebook")
