"""The notebooks in a real browser: JupyterLab driven by headless Chromium.

A module fixture starts JupyterLab on 127.0.0.1 (a free port, a random token) in a
temporary copy of ``notebooks/``, with its own data, results, settings and runtime
folders, and Debian's Chromium through Playwright's Python API (Playwright's own browser
download is not used).  The browser may reach the loopback server only: every other
request is aborted.  Two checks:

* ``00_overview`` runs with Run All: every code cell executes, none shows an error or
  stderr;
* ``08_blur_analysis``'s frame browser (an ipywidgets slider) redraws its figure when
  the slider moves.  08 reads the runs of 07, so 07 runs first with papermill and small
  parameters (one smoke-profile run), and the copy of 08 gets the same parameters the
  way papermill injects them.

Skipped, with one line saying why, where Playwright or Chromium is missing
(``pip install playwright``; ``apt-get install chromium``).
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

import nbformat
import pytest

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[1]
NB_DIR = REPO / "notebooks"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
#: 07 and 08 with one small run: the smoke profile, one model, one loss, one epoch.
STUDY = dict(PROFILE="smoke", EPOCHS=1, MAX_FRAMES=16, MODELS=["Convolutional"],
             LOSSES=["MSE"])
STDERR_MIME = "application/vnd.jupyter.stderr"  # how JupyterLab renders errors and stderr
PANEL = ".jp-NotebookPanel:not(.lm-mod-hidden)"   # the notebook on show

sync_api = pytest.importorskip(
    "playwright.sync_api", reason="playwright is not installed (pip install playwright)")
if not CHROMIUM.is_file():
    pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)",
                allow_module_level=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_server(url: str, proc: subprocess.Popen, deadline_s: float) -> None:
    """Poll ``url`` until it answers 200; fail if ``proc`` exits or the deadline passes."""
    deadline = time.monotonic() + deadline_s
    while not server_answers(url):
        if time.monotonic() > deadline:
            pytest.fail(f"JupyterLab did not answer within {deadline_s:.0f} s")
        try:
            proc.wait(timeout=0.2)  # the pause between polls, cut short if it exits
        except subprocess.TimeoutExpired:
            continue
        pytest.fail(f"JupyterLab exited with status {proc.returncode} before answering")


def wait_in_page(page, script: str, arg, deadline_s: float, what: str) -> None:
    """Poll ``script(arg)`` in the page (every 100 ms) until it is true, with a deadline;
    on failure say what the notebook's prompts read."""
    try:
        page.wait_for_function(script, arg=arg, polling=100, timeout=deadline_s * 1000)
    except sync_api.TimeoutError:
        pytest.fail(f"timed out after {deadline_s:.0f} s waiting for {what}; "
                    f"the code cells' prompts read {prompts(page)}")


def server_answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory):
    """(base URL, token, notebooks folder, environment) of a JupyterLab server."""
    root = tmp_path_factory.mktemp("lab")
    notebooks = root / "notebooks"
    shutil.copytree(NB_DIR, notebooks, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    settings = root / "settings" / "@jupyterlab" / "notebook-extension"
    settings.mkdir(parents=True)
    # Every cell in the page, whether scrolled into view or not: the checks read them all.
    (settings / "tracker.jupyterlab-settings").write_text('{"windowingMode": "none"}')
    env = dict(os.environ, BLURUTILS_DATA_DIR=str(root / "data"),
               BLURUTILS_RESULTS_DIR=str(root / "results"), TF_CPP_MIN_LOG_LEVEL="3",
               JUPYTER_CONFIG_DIR=str(root / "config"), JUPYTER_RUNTIME_DIR=str(root / "runtime"),
               JUPYTERLAB_SETTINGS_DIR=str(root / "settings"),
               JUPYTERLAB_WORKSPACES_DIR=str(root / "workspaces"))
    port, token = free_port(), secrets.token_hex(16)
    command = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
               f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
               f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={notebooks}",
               # nothing fetched from the internet: no news, update checks or PyPI look-ups
               "--LabApp.news_url=None", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
               "--LabApp.extension_manager=readonly"]
    if os.geteuid() == 0:
        command.append("--allow-root")  # containers often run as root
    log = open(root / "server.log", "wb")
    proc = subprocess.Popen(command, cwd=notebooks, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for_server(f"{base}/api/status?token={token}", proc, 60)
        yield base, token, notebooks, env
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                              args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser, lab, tmp_path):
    """A fresh page that may load from the loopback server only."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})

    def loopback_only(route):
        host = urlparse(route.request.url).hostname
        if host in ("127.0.0.1", "localhost"):
            route.continue_()
        else:
            route.abort()

    context.route("**/*", loopback_only)
    page = context.new_page()
    page.set_default_timeout(30_000)
    yield page
    page.screenshot(path=str(tmp_path / "last.png"))  # kept with pytest's tmp folders
    context.close()


def open_notebook(page, lab, name: str) -> int:
    """Open ``name`` in JupyterLab, wait for its kernel; return its number of code cells."""
    base, token, notebooks, _ = lab
    # A workspace of its own, reset: no tab left open by an earlier test.
    page.goto(f"{base}/lab/workspaces/{secrets.token_hex(4)}/tree/{name}?reset&token={token}")
    n_code = sum(c.cell_type == "code" for c in nbformat.read(notebooks / name, as_version=4).cells)
    wait_in_page(page, "([sel, n]) => document.querySelectorAll(sel).length === n",
                 [f"{PANEL} .jp-CodeCell", n_code], 60, f"{name}'s {n_code} code cells")
    page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").wait_for(timeout=60_000)
    return n_code


def menu(page, top: str, item: str) -> None:
    page.locator(".lm-MenuBar-item", has_text=re.compile(rf"^{top}$")).click()
    page.get_by_role("menuitem", name=item, exact=True).click()


def prompts(page) -> list[str]:
    return page.locator(f"{PANEL} .jp-CodeCell .jp-InputPrompt").all_text_contents()


def run_all(page, n_code: int, deadline_s: float) -> None:
    """Clear the stored outputs, Run > Run All Cells, then wait until every code cell
    shows a new execution count (solution cells hide theirs until expanded)."""
    menu(page, "View", "Expand All Code")
    menu(page, "Edit", "Clear Outputs of All Cells")
    prompt = f"{PANEL} .jp-CodeCell .jp-InputPrompt"
    wait_in_page(page, "sel => [...document.querySelectorAll(sel)]"
                 ".every(p => !/[0-9]/.test(p.textContent))", prompt, 10,
                 "the stored outputs to be cleared")
    menu(page, "Run", "Run All Cells")
    wait_in_page(page, "([sel, n]) => { const p = [...document.querySelectorAll(sel)];"
                 " return p.length === n && p.every(e => /^\\s*\\[[0-9]+\\]:\\s*$/.test(e.textContent)); }",
                 [prompt, n_code], deadline_s, "every cell to run")


def error_outputs(page) -> list[str]:
    return page.locator(f"{PANEL} .jp-OutputArea-output[data-mime-type='{STDERR_MIME}']") \
        .all_text_contents()


def test_overview_runs_all_without_errors(page, lab):
    n_code = open_notebook(page, lab, "00_overview.ipynb")
    run_all(page, n_code, 180)
    assert error_outputs(page) == []
    outputs = page.locator(f"{PANEL} .jp-OutputArea-output")
    assert outputs.count() >= n_code // 2, "Run All left most cells without output"
    assert page.locator(f"{PANEL} .jp-OutputArea-output img").count() >= 1


def test_the_error_check_sees_an_error(page, lab):
    """Control: a cell that raises shows up in ``error_outputs``, so the check above
    is not vacuous."""
    notebooks = lab[2]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell('raise ValueError("planted")')])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)",
                                 "language": "python"}
    nbformat.write(nb, notebooks / "planted_error.ipynb")
    run_all(page, open_notebook(page, lab, "planted_error.ipynb"), 60)
    assert any("planted" in text for text in error_outputs(page))


@pytest.fixture(scope="module")
def study_notebook(lab) -> str:
    """08, in the lab's folder, with 07's small study already trained for it to read."""
    import papermill
    from papermill.iorw import load_notebook_node
    from papermill.parameterize import parameterize_notebook

    _, _, notebooks, env = lab
    out = notebooks.parent / "results" / "browser-study"
    parameters = dict(STUDY, OUT=str(out), BROWSE_RUNS=["Convolutional-MSE"])
    with pytest.MonkeyPatch.context() as mp:  # the kernel inherits this process's environment
        for key in ("BLURUTILS_DATA_DIR", "BLURUTILS_RESULTS_DIR", "TF_CPP_MIN_LOG_LEVEL"):
            mp.setenv(key, env[key])
        declared = papermill.inspect_notebook(str(notebooks / "07_train_all_models.ipynb"))
        papermill.execute_notebook(
            str(notebooks / "07_train_all_models.ipynb"), str(notebooks.parent / "07.ipynb"),
            parameters={k: v for k, v in parameters.items() if k in declared},
            kernel_name="python3", cwd=str(notebooks), progress_bar=False, log_output=False,
            execution_timeout=600)
    assert (out / "runs" / "Convolutional-MSE" / "model.keras").is_file()
    source = notebooks / "08_blur_analysis.ipynb"
    nb = parameterize_notebook(load_notebook_node(str(source)), parameters)
    nbformat.write(nb, notebooks / "08_browser.ipynb")
    return "08_browser.ipynb"


def test_frame_browser_redraws_when_the_slider_moves(page, lab, study_notebook):
    n_code = open_notebook(page, lab, study_notebook)
    run_all(page, n_code, 240)
    assert error_outputs(page) == []
    widget = page.locator(f"{PANEL} .widget-interact").first
    widget.wait_for()
    image = widget.locator(".jp-OutputArea-output img").first
    image.wait_for()
    readout = widget.locator(".widget-readout").first
    assert readout.text_content().strip() == "0"
    before = image.get_attribute("src")
    picture = image.screenshot()

    widget.locator(".noUi-handle").first.focus()
    page.keyboard.press("ArrowRight")

    sync_api.expect(readout).to_have_text("1", timeout=20_000)
    # The interactive output is replaced when it redraws: wait for an image with a new src.
    wait_in_page(page, "([sel, old]) => { const i = document.querySelector(sel);"
                 " return i !== null && i.src !== old; }",
                 [f"{PANEL} .widget-interact .jp-OutputArea-output img", before], 60,
                 "the figure to be redrawn")
    assert widget.locator(".jp-OutputArea-output img").first.screenshot() != picture
    assert error_outputs(page) == []
