"""Debian's Chromium, headless, for tests that look at a page as a person would."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--hide-scrollbars",
)


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        message = "the dashboard is tested in Debian's chromium (apt-get install chromium)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message + "; CI installs it in .ci/run")
        pytest.skip(message)
    return path


def _run(args: list[str]) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        return subprocess.run(
            [chromium(), *FLAGS, f"--user-data-dir={profile}", *args],
            capture_output=True, text=True, timeout=90, check=False,
        )


def rendered_dom(url: str) -> str:
    """The DOM after the page has loaded and run."""
    result = _run(["--virtual-time-budget=3000", "--dump-dom", url])
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def screenshot(url: str, out: Path, size: str = "1280,1600") -> Path:
    result = _run([f"--window-size={size}", f"--screenshot={out}", url])
    assert result.returncode == 0 and out.exists(), result.stderr[-2000:]
    return out
