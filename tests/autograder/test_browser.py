"""In a real browser: what does a student see running the blank 03 notebook in JupyterLab?

JupyterLab starts from the project's environment on a free local port; Debian's Chromium,
driven by Selenium, opens the release notebook, runs all cells (Run All goes past a blank
exercise to the end), then presses nbgrader's Validate.
Screenshots and the server's log land in test-artifacts/browser/.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK = REPO / "course" / "03-gradient-checking" / "03-gradient-checking.ipynb"
ARTIFACTS = REPO / "test-artifacts" / "browser"
BUDGET = 180.0  # seconds for everything in the browser, from the page load to Validate's answer
BLANK_ERRORS = {"NotImplementedError", "NameError"}  # a blank exercise, and what it left undefined
NO_BROWSER = (
    "chromium/chromedriver not found: make test installs them as root "
    "(apt-get install chromium chromium-driver)"
)

# Every code cell as the page shows it: prompt, source, output text, error name, images.
CELLS_JS = r"""
return Array.from(document.querySelectorAll('.jp-Notebook .jp-CodeCell')).map(cell => {
  const outputs = Array.from(cell.querySelectorAll('.jp-OutputArea-output'));
  const stderr = outputs.filter(o => o.dataset.mimeType === 'application/vnd.jupyter.stderr');
  const trace = stderr.map(o => o.textContent).join('\n');
  const error = trace.match(/(\w+)\s+Traceback \(most recent call last\)/);
  return {
    prompt: cell.querySelector('.jp-InputPrompt').textContent.trim(),
    source: cell.querySelector('.cm-content').innerText,
    html: outputs.filter(o => o.dataset.mimeType === 'text/html').map(o => o.innerText),
    error: error ? error[1] : null,
    images: Array.from(cell.querySelectorAll('.jp-OutputArea-output img'))
      .filter(img => img.complete && img.naturalWidth > 0)
      .map(img => [img.getAttribute('src').slice(0, 22), img.naturalWidth, img.naturalHeight]),
  };
});
"""


def _tools() -> tuple[str, str]:
    """Paths of Debian's chromium and its chromedriver, or skip with the way to install them."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not (browser and driver):
        pytest.skip(NO_BROWSER)
    return browser, driver


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _api(base: str, token: str, path: str, method: str = "GET"):
    request = urllib.request.Request(
        f"{base}{path}", method=method, headers={"Authorization": f"token {token}"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        body = response.read()
    return json.loads(body) if body else None


@pytest.fixture
def artifacts():
    """test-artifacts/browser/, emptied of an earlier run's screenshots and logs."""
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)
    return ARTIFACTS


@pytest.fixture
def lab(tmp_path, artifacts):
    """(base URL, token): JupyterLab on 127.0.0.1 over a folder holding a copy of the 03 release."""
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    shutil.copy(NOTEBOOK, workspace)
    # No news or update checks, and every cell in the DOM (no virtual scrolling), in settings
    # of this server's own; the user's Jupyter config, data and IPython profile stay out.
    settings = tmp_path / "lab-settings"
    for plugin, values in {
        "apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
        "notebook-extension/tracker": {"windowingMode": "none"},
    }.items():
        path = settings / "@jupyterlab" / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "MPLBACKEND"))}
    env.update(
        JUPYTER_CONFIG_DIR=str(tmp_path / "jupyter-config"),
        JUPYTER_DATA_DIR=str(tmp_path / "jupyter-data"),
        JUPYTER_RUNTIME_DIR=str(tmp_path / "jupyter-runtime"),
        IPYTHONDIR=str(tmp_path / "ipython"),
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
    )
    port, token = _free_port(), secrets.token_hex(24)
    # The kernelspec "python3" runs `python`, which jupyter_client replaces by the server's
    # own interpreter: this venv's, where gradlib and autograder are installed.
    command = [
        sys.executable, "-m", "jupyterlab", "--no-browser",
        "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={workspace}",
        f"--LabApp.user_settings_dir={settings}",
        f"--LabApp.workspaces_dir={tmp_path / 'lab-workspaces'}",
        "--LabApp.news_url=None", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ] + (["--allow-root"] if os.geteuid() == 0 else [])  # fmt: skip
    log_path = tmp_path / "jupyterlab.log"
    base = f"http://127.0.0.1:{port}"
    with open(log_path, "wb") as log:
        server = subprocess.Popen(
            command, cwd=workspace, env=env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            if server.poll() is not None:
                pytest.fail(f"JupyterLab exited ({server.returncode}):\n{log_path.read_text()}")
            try:
                _api(base, token, "/api/status")
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"JupyterLab did not answer in 60 s:\n{log_path.read_text()}")
                time.sleep(0.5)
        yield base, token
    finally:
        try:  # kernels live in sessions of their own: shut them down through the server
            for kernel in _api(base, token, "/api/kernels") or []:
                _api(base, token, f"/api/kernels/{kernel['id']}", method="DELETE")
        except OSError:
            pass
        _stop(server)
        shutil.copy(log_path, artifacts / "jupyterlab.log")


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM the process group (JupyterLab cleans up), SIGKILL it if still there in 30 s."""
    for sig, wait in ((signal.SIGTERM, 30), (signal.SIGKILL, 10)):
        if process.poll() is not None:
            return
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(wait)
        except subprocess.TimeoutExpired:
            continue


@pytest.fixture
def browser(tmp_path):
    """Headless Chromium under Selenium's control (Debian's binary and chromedriver)."""
    chromium, chromedriver = _tools()
    webdriver = pytest.importorskip("selenium.webdriver", reason="pip install -e '.[test]'")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in (
        "--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
        "--window-size=1400,1000", "--no-first-run", "--no-default-browser-check",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
    ):  # fmt: skip
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(executable_path=chromedriver, log_output=str(tmp_path / "chromedriver.log"))
    driver = webdriver.Chrome(options=options, service=service)
    try:
        driver.set_page_load_timeout(60)
        driver.set_script_timeout(30)
        yield driver
    finally:
        try:
            driver.quit()
        finally:
            service.stop()


class Page:
    """The JupyterLab page, with one deadline for every wait in the test."""

    def __init__(self, driver, budget: float):
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import WebDriverWait

        self.driver, self.by, self.wait_class = driver, By, WebDriverWait
        self.deadline = time.monotonic() + budget

    def wait(self, condition, timeout: float, what: str):
        """condition(driver)'s first truthy value, or fail naming ``what`` and the timeout."""
        left = min(timeout, self.deadline - time.monotonic())
        if left <= 0:
            pytest.fail(f"out of the test's {BUDGET:.0f} s before: {what}")
        waiter = self.wait_class(self.driver, left, poll_frequency=0.25)
        return waiter.until(condition, f"{what} (waited {left:.0f} s)")

    def find(self, css: str):
        return self.driver.find_element(self.by.CSS_SELECTOR, css)

    def cells(self) -> list[dict]:
        return self.driver.execute_script(CELLS_JS)

    def kernel_status(self) -> str | None:
        script = "const e = document.querySelector('.jp-Notebook-ExecutionIndicator');"
        return self.driver.execute_script(script + " return e && e.dataset.status;")

    def menu(self, title: str, command: str) -> None:
        """Click menu ``title`` in the menu bar, then its item that runs ``command``."""
        xpath = (
            "//li[contains(@class, 'lm-MenuBar-item')]"
            f"[.//div[contains(@class, 'lm-MenuBar-itemLabel')][text()='{title}']]"
        )
        self.driver.find_element(self.by.XPATH, xpath).click()
        item = f"li.lm-Menu-item[data-command='{command}']:not(.lm-mod-disabled)"
        self.wait(lambda d: _shown(d, self.by.CSS_SELECTOR, item), 10, f"{title} > {command}")
        self.find(item).click()

    def run(self, title: str, command: str, timeout: float = 120) -> list[dict]:
        """Run cells from a menu and wait until some ran, none is queued and the kernel idles."""
        before = _last_count(self.cells())

        def done(_):
            cells = self.cells()
            quiet = all("*" not in c["prompt"] for c in cells)
            ran = _last_count(cells) > before
            return cells if ran and quiet and self.kernel_status() == "idle" else None

        self.menu(title, command)
        return self.wait(done, timeout, f"{command}: the kernel idle again")

    def show(self, css: str) -> None:
        element = self.find(css)
        self.driver.execute_script("arguments[0].scrollIntoView({block: 'start'});", element)
        time.sleep(0.3)  # let the notebook settle after scrolling

    def screenshot(self, name: str) -> Path:
        path = ARTIFACTS / name
        self.driver.save_screenshot(str(path))
        return path


def _shown(driver, by, css):
    found = driver.find_elements(by, css)
    return found[0] if found and found[0].is_displayed() else None


def _last_count(cells: list[dict]) -> int:
    counts = [int(m[1]) for c in cells if (m := re.fullmatch(r"\[(\d+)\]:", c["prompt"]))]
    return max(counts, default=0)


def _release() -> tuple[int, list[str]]:
    """The release's number of code cells, and the functions it leaves blank (solution cells)."""
    code = [c for c in json.loads(NOTEBOOK.read_text())["cells"] if c["cell_type"] == "code"]
    blank = [
        "".join(c["source"]) for c in code if c["metadata"].get("nbgrader", {}).get("solution")
    ]
    return len(code), [name for source in blank for name in re.findall(r"^def (\w+)", source, re.M)]


def test_the_blank_03_notebook_runs_self_checks_and_fails_validate(artifacts, browser, lab):
    base, token = lab
    # The notebook's kernel must be this venv's interpreter: "python" in the kernelspec is
    # replaced by the server's sys.executable (an absolute path must be that interpreter).
    specs = _api(base, token, "/api/kernelspecs")
    argv = specs["kernelspecs"][specs["default"]]["spec"]["argv"]
    assert argv[0] in {"python", "python3", sys.executable}, argv
    page = Page(browser, BUDGET)
    try:
        _run_and_check(page, f"{base}/lab/tree/{NOTEBOOK.name}?token={token}", *_release())
    except BaseException:
        with contextlib.suppress(Exception):  # the browser may be gone: keep the first error
            page.screenshot("failure.png")
        raise
    finally:
        logs = []
        with contextlib.suppress(Exception):
            logs = browser.get_log("browser")
        (artifacts / "console.log").write_text(
            "".join(f"{e['level']} {e['message']}\n" for e in logs)
        )
    errors = [e["message"] for e in logs if e["level"] == "SEVERE"]
    assert not errors, (
        f"errors in the page's console (test-artifacts/browser/console.log): {errors}"
    )


def _run_and_check(page: Page, url: str, n_code: int, exercises: list[str]) -> None:
    assert exercises, f"no blank exercise found in {NOTEBOOK}"
    page.driver.get(url)
    page.wait(
        lambda _: len(page.cells()) == n_code and page.kernel_status() == "idle",
        90,
        f"the notebook's {n_code} code cells in the page and its kernel idle",
    )

    # Run > Run All Cells. A blank exercise raises NotImplementedError; the kit's provided
    # cells that call it are tagged raises-exception, so Run All goes on to the end and the
    # student sees every self-check, figure and report of the notebook in one go.
    cells = page.run("Run", "runmenu:run-all")
    page.show(".jp-CodeCell .jp-OutputArea-output[data-mime-type='text/html']")
    page.screenshot("01-after-run-all.png")
    unrun = [c["source"].splitlines()[0] for c in cells if c["prompt"] == "[ ]:"]
    assert not unrun, f"Run All stopped before these cells: {unrun}"
    assert any(c["error"] for c in cells), "no cell raised: do the blank exercises still raise?"
    unexpected = [
        (c["error"], c["source"]) for c in cells if c["error"] not in {*BLANK_ERRORS, None}
    ]
    assert not unexpected, f"errors a blank exercise does not explain: {unexpected}"

    # (1) Every self-check says "not yet right" and why: the function is not implemented yet.
    checks = {
        re.search(r"autograder\.check\(\W*(\w+)", c["source"])[1]: "\n".join(c["html"])
        for c in cells
        if "autograder.check(" in c["source"]
    }
    assert sorted(checks) == sorted(exercises), "each blank exercise has one self-check"
    for name, shown in checks.items():
        assert f"{name}: not yet right" in shown, (name, shown)
        assert f"✗ {name} is not implemented yet" in shown, (name, shown)

    # (2) A matplotlib figure rendered as a PNG in an output area.
    images = [(c["source"], img) for c in cells for img in c["images"]]
    assert any(img[0] == "data:image/png;base64," and img[1] > 200 for _, img in images), images

    # (3) gradlib's report table (GradCheckReport._repr_html_: div.gradcheck-report).
    report = ".jp-OutputArea-output[data-mime-type='text/html'] .gradcheck-report"
    page.show(report)
    page.screenshot("02-report-and-figure.png")
    table = page.find(f"{report} table")
    headers = [th.text for th in table.find_elements(page.by.TAG_NAME, "th")]
    assert headers[:4] == ["block", "shape", "relative difference", "verdict"], headers
    rows = [r.text for r in table.find_elements(page.by.CSS_SELECTOR, "tbody tr")]
    assert rows and all(re.match(r"d\w+ ", r) for r in rows), rows  # dW1, db1, ...
    assert any("✗ wrong" in r for r in rows), rows  # the colleague's clipped gradient
    assert "Gradient check: wrong" in page.find(report).text

    # (4) nbgrader's Validate (toolbar) fails, naming each self-check that does not pass.
    page.find(".jp-NotebookPanel-toolbar .validate-button").click()
    message = page.wait(
        lambda d: _shown(d, page.by.CSS_SELECTOR, ".jp-Dialog #validation-message"),
        150,
        "Validate's dialog",
    )
    time.sleep(0.3)  # the dialog fades in
    page.screenshot("03-validate-dialog.png")
    dialog = page.find(".jp-Dialog")
    assert "Validation Results" in dialog.text
    assert "nbgrader-ErrorDialog" in dialog.get_attribute("class")
    assert "validation-failed" in message.get_attribute("class"), message.text
    assert message.text.count("The following cell failed:") == len(exercises), message.text
    for name in exercises:
        assert f"{name}: ✗ not yet" in message.text, (name, message.text)
    page.find(".jp-Dialog .jp-mod-accept").click()
