"""Shared fixtures: one strict smoke build of the whole book per test session."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from lib.core.results import REPO_ROOT


@pytest.fixture(scope="session")
def smoke_html(tmp_path_factory) -> Path:
    """Execute every chapter with its smoke profile (forced) and build the book strictly;
    return the HTML root. A failing chapter fails every test that uses this. ``SMOKE_HTML``
    names the HTML root of a smoke build at hand to check instead (``<build>/html-smoke/_build/
    html``, e.g. after ``python -m lib.book build --profile smoke``)."""
    if os.environ.get("SMOKE_HTML"):
        return Path(os.environ["SMOKE_HTML"]).resolve()
    build_dir = tmp_path_factory.mktemp("smoke_build")
    env = {**os.environ, "BOOK_BUILD_DIR": str(build_dir)}
    env.pop("BOOK_TOC", None)
    proc = subprocess.run(
        [sys.executable, "-m", "lib.book", "build", "--profile", "smoke", "--force", "-j", "2"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=1800,
    )
    assert proc.returncode == 0, f"smoke build failed:\n{proc.stdout}\n{proc.stderr}"
    return build_dir / "html-smoke" / "_build" / "html"
