"""Drive JupyterLab in Debian's Chromium with Playwright (see notebook_testing notes).

``running_lab(root)`` starts ``jupyter lab`` on loopback with a random token and temporary
config folders and stops it (and its kernels) afterwards; ``run_all_and_move_slider``
opens a notebook, runs every cell, moves the first stepper slider by one notch, and
returns the stepper image before and after, plus a screenshot.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_lab(root: Path, home: Path):
    """A JupyterLab server on 127.0.0.1 serving ``root``; yields (base_url, token)."""
    port, token = _free_port(), secrets.token_hex(16)
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(home / "config"),
        "JUPYTER_DATA_DIR": str(home / "data"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "IPYTHONDIR": str(home / "ipython"),
        "MPLCONFIGDIR": str(home / "mpl"),
    }
    env.pop("LDM_TEACH_STATIC_WIDGETS", None)  # the browser must get the real widgets
    jupyter = str(Path(sys.executable).with_name("jupyter"))
    subprocess.run(
        [
            jupyter,
            "labextension",
            "disable",
            "--level=user",
            "@jupyterlab/apputils-extension:announcements",
        ],
        env=env,
        capture_output=True,
        check=False,
    )
    log = open(home / "lab.log", "w")  # noqa: SIM115 (closed below)
    proc = subprocess.Popen(
        [
            jupyter,
            "lab",
            "--no-browser",
            "--allow-root",
            "--ip=127.0.0.1",
            f"--port={port}",
            f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={root}",
            "--LabApp.expose_app_in_browser=True",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2)
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"jupyter lab did not start; see {home / 'lab.log'}"
                    ) from None
                time.sleep(0.5)
        yield base, token
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)  # the server and the kernels it started
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()


# the notebook's kernel, as JupyterLab's session context reports it
KERNEL_STATUS = (
    "(() => { const w = window.jupyterapp.shell.currentWidget; "
    "const k = w && w.sessionContext && w.sessionContext.session "
    "&& w.sessionContext.session.kernel; return k ? k.status : 'none'; })()"
)


# code cells still queued or running: their prompt reads "[*]:"
PENDING = (
    "Array.from(document.querySelectorAll('.jp-InputArea-prompt'))"
    ".filter(e => e.textContent.includes('*')).length"
)


def _wait(condition, timeout_s: float, what: str, poll_s: float = 0.5) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(poll_s)


def _open_and_run_all(p, base: str, token: str, notebook: str, selector: str, timeout_s: float):
    """Launch Chromium, open ``notebook``, run all cells and wait until every cell ran;
    returns (browser, page, the first element matching ``selector``, scrolled into view)."""
    browser = p.chromium.launch(
        executable_path=CHROMIUM, args=["--no-sandbox", "--disable-dev-shm-usage"]
    )
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(f"{base}/lab/tree/{notebook}?token={token}&reset")
    page.wait_for_function("window.jupyterapp !== undefined", timeout=90_000)
    page.wait_for_selector(".jp-Notebook", timeout=90_000)
    _wait(lambda: page.evaluate(KERNEL_STATUS) == "idle", 120, "an idle kernel")
    page.wait_for_timeout(1000)
    page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
    element = page.locator(selector).first
    element.wait_for(timeout=timeout_s * 1000)
    _wait(
        lambda: page.evaluate(KERNEL_STATUS) == "idle" and page.evaluate(PENDING) == 0,
        timeout_s,
        "the kernel to finish every cell",
    )
    element.scroll_into_view_if_needed()
    return browser, page, element


def run_all_and_move_slider(
    base: str, token: str, notebook: str, screenshot: Path, timeout_s: float = 600
) -> dict:
    """Open ``notebook`` (path relative to the server root), run all cells, press
    ArrowRight on the first stepper's slider; returns the image sources and readouts."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser, page, stepper = _open_and_run_all(
            p, base, token, notebook, ".ldm-teach-stepper", timeout_s
        )
        page.wait_for_timeout(500)  # let a windowed notebook render the cell it scrolled to
        image = stepper.locator("img").first
        readout = stepper.locator(".widget-readout").first
        # text_content, not inner_text: the latter is empty while the cell is off-screen
        before_src, before_readout = image.get_attribute("src"), readout.text_content()
        handle = stepper.locator(".widget-slider .noUi-handle").first
        handle.focus()
        handle.press("ArrowRight")
        _wait(lambda: image.get_attribute("src") != before_src, 60, "the image to be redrawn")
        after_src, after_readout = image.get_attribute("src"), readout.text_content()
        errors = page.locator(
            ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']"
        ).all_inner_texts()
        tracebacks = [e for e in errors if "Traceback" in e or "Error" in e]
        page.screenshot(path=str(screenshot), full_page=False)
        browser.close()
    return {
        "before_src": before_src,
        "after_src": after_src,
        "before_readout": before_readout,
        "after_readout": after_readout,
        "errors": tracebacks,
    }


def run_all_and_generate(
    base: str, token: str, notebook: str, prompt: str, screenshot: Path, timeout_s: float = 600
) -> dict:
    """Open ``notebook``, run all cells, type ``prompt`` into the first prompt playground,
    press its generate button; returns the image sources before and after, the playground's
    message line and any tracebacks."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser, page, playground = _open_and_run_all(
            p, base, token, notebook, ".ldm-teach-playground", timeout_s
        )
        page.wait_for_timeout(500)
        image = playground.locator("img").first
        before_src = image.get_attribute("src")
        box = playground.locator("input[type='text']").first
        box.fill(prompt)
        box.press("Enter")
        playground.locator("button", has_text="generate").first.click()
        _wait(lambda: image.get_attribute("src") != before_src, 120, "a new image")
        after_src = image.get_attribute("src")
        message = playground.locator(".widget-html-content").first.text_content() or ""
        errors = page.locator(
            ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']"
        ).all_inner_texts()
        tracebacks = [e for e in errors if "Traceback" in e or "Error" in e]
        page.screenshot(path=str(screenshot), full_page=False)
        browser.close()
    return {
        "before_src": before_src,
        "after_src": after_src,
        "message": message,
        "errors": tracebacks,
    }
