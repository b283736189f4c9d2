"""JupyterLab as a learner meets it (``make lab``): started the way the launcher starts it (as root
where the tests run as root), opened in headless Chromium, a chapter's MyST rendered, no news prompt,
solutions collapsed, and an exercise's check passing in the notebook's own output."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from llmbook.book import lab

ROOT = Path(__file__).resolve().parents[1]
CHAPTER = "notebooks/00_how_to_use.ipynb"


def test_settings_answer_the_news_prompt_and_keep_a_learners_own_file(tmp_path):
    target = lab.install_settings(tmp_path)
    assert target == tmp_path / "share/jupyter/lab/settings/overrides.json"
    settings = json.loads(target.read_text())
    assert settings["@jupyterlab/apputils-extension:notification"] == {"fetchNews": "false",
                                                                        "checkForUpdates": False}
    assert lab.install_settings(tmp_path) == target  # ours: rewritten without complaint
    target.write_text('{"@jupyterlab/apputils-extension:themes": {"theme": "JupyterLab Dark"}}')
    with pytest.raises(FileExistsError, match="not written by the book"):
        lab.install_settings(tmp_path)
    assert "Dark" in target.read_text()  # never overwritten


def test_the_launcher_allows_root_only_as_root():
    assert "--allow-root" in lab.lab_command(ROOT, is_root=True)
    assert "--allow-root" not in lab.lab_command(ROOT, is_root=False)
    assert lab.lab_command(ROOT, ["--port=1"], is_root=False)[-1] == "--port=1"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def jupyterlab_url(tmp_path_factory):
    pytest.importorskip("jupyterlab")
    pytest.importorskip("jupyterlab_myst")
    lab.install_settings()  # what `make lab` does: the book's settings in this environment
    port, token = _free_port(), "llmbook-test"
    home = tmp_path_factory.mktemp("lab-home")  # a new user: no workspace, no saved settings
    env = dict(os.environ, HOME=str(home), JUPYTER_CONFIG_DIR=str(home / ".jupyter"),
               JUPYTERLAB_WORKSPACES_DIR=str(home / "workspaces"), JUPYTER_RUNTIME_DIR=str(home / "runtime"))
    command = lab.lab_command(ROOT, ["--no-browser", f"--port={port}", "--ServerApp.ip=127.0.0.1",
                                     f"--IdentityProvider.token={token}", "--LabApp.expose_app_in_browser=True",
                                     f"--LabApp.user_settings_dir={home / 'user-settings'}"])
    server = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2)
                break
            except OSError:
                if server.poll() is not None:
                    pytest.fail(f"JupyterLab exited: {server.stdout.read()[-2000:]}")
                time.sleep(0.5)
        else:
            pytest.fail("JupyterLab did not start within 60 s")
        yield url, token
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()


def test_a_learner_runs_an_exercise_in_jupyterlab(jupyterlab_url, browser, tmp_path):
    url, token = jupyterlab_url
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(f"{url}/lab/tree/{CHAPTER}?token={token}&reset")
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
    page.wait_for_function("window.jupyterapp && window.jupyterapp.shell.currentWidget"
                           " && window.jupyterapp.shell.currentWidget.sessionContext"
                           " && window.jupyterapp.shell.currentWidget.sessionContext.session", timeout=60_000)
    page.wait_for_timeout(2_000)  # a first-run prompt, if any, shows up by now

    # No "Would you like to receive official Jupyter news?" toast covers the notebook.
    assert page.get_by_text("official Jupyter news").count() == 0

    # MyST roles are rendered (jupyterlab-myst), not shown as literal {doc}`...` text.
    overview = page.locator(".jp-MarkdownCell").nth(1)
    overview.get_by_role("cell", name="I. Foundations").wait_for(timeout=30_000)  # a rendered table
    page.wait_for_function("!document.querySelectorAll('.jp-MarkdownCell')[1].innerText.includes('{doc}')",
                           timeout=30_000)
    assert "`01_history`" not in overview.inner_text()

    # Solution cells start collapsed: JupyterLab hides their source (the notebook is windowed, so
    # the cells are read from JupyterLab's notebook widget rather than from the DOM).
    notebook = "window.jupyterapp.shell.currentWidget.content"
    sources = json.loads((ROOT / CHAPTER).read_text())["cells"]
    solutions = [i for i, c in enumerate(sources) if "solution" in c.get("metadata", {}).get("tags", [])]
    assert page.evaluate(f"{notebook}.widgets.length") == len(sources) and solutions
    hidden = page.evaluate(f"{notebook}.widgets.map(cell => cell.inputHidden)")
    assert [i for i, h in enumerate(hidden) if h] == solutions

    # Run the chapter (a few seconds in ci) and read the first exercise's check in the solution's output.
    page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
    output = (f"{notebook}.widgets[{solutions[0]}].model.outputs.toJSON()"
              ".map(o => [].concat(o.text || '').join('')).join('')")
    page.wait_for_function(f"{output}.includes('correct.')", timeout=120_000)
    assert "✅ Exercise 00.1: correct." in page.evaluate(output)
    page.screenshot(path=str(ROOT / "_build" / "jupyterlab.png"))
    page.close()
