"""The "tweak the sliders in Binder" path, tested with a real client (issue #15).

Starts a local Jupyter server (Notebook 7, pinned in requirements.txt) on 127.0.0.1 from this
environment, opens the Fig. 3 chapter (``book/theory/03_warm_cold_ideal.ipynb``, a copy in a temporary
folder) in headless Chromium, runs all cells through the notebook's own menu, moves the live
gamma slider to a value that is *not* one of the precomputed frames (60; the frames are 25, 50, 75,
100), and checks that the kernel redraws the figure. Everything stays on 127.0.0.1: the page may not
reach anything else, and the package is imported from this checkout (no install cell runs).

Cost: about 60-90 s on 2 cores (server start, the chapter's own cells ~35 s, one live redraw).
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHAPTER = ROOT / "book" / "theory" / "03_warm_cold_ideal.ipynb"
PRECOMPUTED_GAMMAS = (25, 50, 75, 100)   # the chapter's kernel-free frames
LIVE_GAMMA = 60
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]

# A hash of the bytes of the live figure (the <img> inside the chapter's live box, class "plive").
LIVE_IMAGE_HASH = """async () => {
  const img = document.querySelector('.plive img');
  if (!img || !img.src) return null;
  const buf = new Uint8Array(await (await fetch(img.src)).arrayBuffer());
  let h = 2166136261;
  for (const b of buf) { h ^= b; h = Math.imul(h, 16777619) >>> 0; }
  return buf.length + ':' + h;
}"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def jupyter_server():
    pytest.importorskip("playwright")
    try:
        import notebook  # noqa: F401  (Notebook 7: requirements.txt pins it)
    except ImportError:
        pytest.fail("the 'notebook' package (Notebook 7) is not installed: pip install -r requirements.txt")
    work = Path(tempfile.mkdtemp(prefix="live-kernel-"))
    shutil.copy(CHAPTER, work / CHAPTER.name)
    port, token = _free_port(), "live-kernel-test"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
               OMP_NUM_THREADS="1", JUPYTER_CONFIG_DIR=str(work / ".jupyter"),
               JUPYTER_RUNTIME_DIR=str(work / ".runtime"))
    env.pop("MPLBACKEND", None)
    cmd = [sys.executable, "-m", "notebook", "--no-browser", f"--ServerApp.port={port}",
           "--ServerApp.ip=127.0.0.1", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={work}",
           "--ServerApp.port_retries=0"] + (["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else [])
    log = open(work / "server.log", "w")
    proc = subprocess.Popen(cmd, cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=1)
                break
            except OSError:
                if proc.poll() is not None:
                    pytest.fail(f"jupyter server exited: {(work / 'server.log').read_text()[-2000:]}")
                time.sleep(0.5)
        else:
            pytest.fail(f"jupyter server did not answer on {base}: {(work / 'server.log').read_text()[-2000:]}")
        yield base, token, work
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        (ROOT / "_build").mkdir(exist_ok=True)
        shutil.copy(work / "server.log", ROOT / "_build" / "live_kernel_server.log")   # for a failure's post-mortem
        shutil.rmtree(work, ignore_errors=True)


def _wait_for_idle_kernel(page, base: str, token: str, timeout: float = 90) -> None:
    """Poll the server's sessions API; wait with the page (time.sleep would stall playwright's routing)."""
    import json

    deadline = time.time() + timeout
    while time.time() < deadline:
        with urllib.request.urlopen(f"{base}/api/sessions?token={token}", timeout=5) as r:
            sessions = json.load(r)
        if any(s.get("kernel", {}).get("execution_state") == "idle" for s in sessions):
            return
        page.wait_for_timeout(500)
    pytest.fail(f"no idle kernel after {timeout} s: {sessions}")


def test_live_slider_redraws_fig3_between_precomputed_frames(jupyter_server):
    from playwright.sync_api import sync_playwright

    assert LIVE_GAMMA not in PRECOMPUTED_GAMMAS
    base, token, work = jupyter_server
    exe = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    assert exe, "no chromium on PATH: install Debian's 'chromium' package"
    with sync_playwright() as p, tempfile.TemporaryDirectory() as profile:
        ctx = p.chromium.launch_persistent_context(profile, executable_path=exe, headless=True, args=FLAGS,
                                                   viewport={"width": 1280, "height": 1000})
        page = ctx.new_page()
        blocked = []

        def route(r):
            if r.request.url.startswith(("http://127.0.0.1", "ws://127.0.0.1", "data:", "blob:")):
                r.continue_()
            else:
                blocked.append(r.request.url)
                r.abort()

        page.route("**/*", route)
        page.goto(f"{base}/notebooks/{CHAPTER.name}?token={token}", wait_until="load")
        page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60000)
        _wait_for_idle_kernel(page, base, token)   # the kernel must be up before "Run All Cells"
        page.click("li.lm-MenuBar-item:has-text('Run')")
        page.click("li.lm-Menu-item:has-text('Run All Cells')")
        # the live box appears once the widget cell has run: the kernel reaches it after ~30 s of cells
        page.wait_for_selector(".plive .widget-slider", timeout=300000)
        page.wait_for_function("() => !!document.querySelector('.plive img')", timeout=60000)
        errors = page.eval_on_selector_all("[data-mime-type='application/vnd.jupyter.error']", "els => els.length")
        assert errors == 0, "a cell raised an error in the live kernel"
        before = page.evaluate(LIVE_IMAGE_HASH)
        assert before, "the live figure has no image"

        gamma = page.locator(".plive .widget-slider").first
        gamma.scroll_into_view_if_needed()
        assert "γ" in gamma.text_content()
        readout = gamma.locator(".widget-readout")
        readout.click()
        page.keyboard.press("Control+A")
        page.keyboard.type(str(LIVE_GAMMA))
        page.keyboard.press("Enter")
        page.wait_for_function(f"() => document.querySelector('.plive .widget-readout').textContent.trim() === '{LIVE_GAMMA}'",
                               timeout=10000)
        # the kernel recomputes Fig. 3 at gamma = 60 (about two seconds) and sends the new image
        deadline = time.time() + 120
        after = before
        while after == before and time.time() < deadline:
            page.wait_for_timeout(500)
            after = page.evaluate(LIVE_IMAGE_HASH)
        page.screenshot(path=str(work / "live.png"), full_page=False)
        shots = ROOT / "_build" / "screenshots"
        shots.mkdir(parents=True, exist_ok=True)
        page.locator(".plive").screenshot(path=str(shots / "live_kernel_fig3_gamma60.png"))
        ctx.close()
    assert after != before, f"the live figure did not change after moving γ to {LIVE_GAMMA}"
    assert not blocked, f"the page tried to reach outside 127.0.0.1: {blocked[:5]}"
