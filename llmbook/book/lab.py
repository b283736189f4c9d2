"""JupyterLab as learners meet it (``make lab``).

Three things stand between a new learner and a chapter in a plain JupyterLab, and this module removes
them:

* JupyterLab does not render MyST: ``{cite}`` and ``{doc}`` roles appear as literal text. The
  ``jupyterlab-myst`` extension (a dependency of the book) renders them; nothing to do here but install it.
* JupyterLab refuses to start as root, which is how containers and many course servers run it. The
  launcher passes ``--allow-root`` when (and only when) it runs as root.
* On the first start a "Would you like to receive official Jupyter news?" prompt covers the notebook.
  The book ships JupyterLab settings that answer it ("never", no update check): they are written to
  ``<environment>/share/jupyter/lab/settings/overrides.json``, where JupyterLab reads defaults, and only
  if that file does not exist or is the book's own (a file the learner wrote is never overwritten).

Command line::

    python -m llmbook.book.lab [--port N] [--no-browser] [JUPYTER-LAB-OPTIONS ...]
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

__all__ = ["LAB_SETTINGS", "settings_file", "install_settings", "lab_command", "main"]

# JupyterLab settings the book ships (plugin id -> settings): no news prompt, no update check.
LAB_SETTINGS: dict[str, dict[str, Any]] = {
    "@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": False},
}


def settings_file(prefix: str | Path | None = None) -> Path:
    """Where JupyterLab in the environment ``prefix`` (default: this Python's) reads default settings."""
    return Path(prefix or sys.prefix) / "share" / "jupyter" / "lab" / "settings" / "overrides.json"


def install_settings(prefix: str | Path | None = None) -> Path:
    """Write :data:`LAB_SETTINGS` as JupyterLab's overrides; return the file. An ``overrides.json``
    that is not the book's is left alone (a ``FileExistsError`` says what to add to it)."""
    target = settings_file(prefix)
    ours = json.dumps(LAB_SETTINGS, indent=2, sort_keys=True) + "\n"
    if target.exists() and target.read_text(encoding="utf-8") != ours:
        try:
            existing = json.loads(target.read_text(encoding="utf-8"))
        except ValueError:
            existing = None
        if existing != LAB_SETTINGS:
            raise FileExistsError(f"{target} exists and was not written by the book: add these settings to it "
                                  f"yourself to silence the news prompt:\n{ours}")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(ours, encoding="utf-8")
    return target


def lab_command(root: Path, options: list[str] | None = None, is_root: bool | None = None) -> list[str]:
    """The command that starts JupyterLab on the book's ``notebooks/`` folder (``--allow-root`` as root)."""
    is_root = (hasattr(os, "geteuid") and os.geteuid() == 0) if is_root is None else is_root
    command = [sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={root}"]
    if is_root:
        command.append("--allow-root")  # JupyterLab refuses root otherwise; containers run as root
    return command + list(options or [])


def main(argv: list[str] | None = None) -> int:
    from .build import project_root

    argv = sys.argv[1:] if argv is None else list(argv)
    root = project_root()
    try:
        print(f"JupyterLab settings: {install_settings()}")
    except FileExistsError as kept:
        print(f"note: {kept}", file=sys.stderr)
    return subprocess.call(lab_command(root, argv + ["--LabApp.default_url=/lab/tree/notebooks"]))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
