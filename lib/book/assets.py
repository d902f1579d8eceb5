"""Offline assets for the HTML book: MathJax from the npm registry, so math renders without a
CDN (readers offline, CI with no internet, the browser tests).

``make install`` calls :func:`fetch_mathjax`; the build copies what the book loads of it into
the staged book (:func:`copy_mathjax`) and points Sphinx's ``mathjax_path`` at it. Without npm
the book falls back to Sphinx's CDN default.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

from lib.core.results import REPO_ROOT

MATHJAX_VERSION = "3.2.2"
MATHJAX_SHA256 = "1b9c0a1c44df864e915690558e72adb9cc5203360daefd385084ced3b6c64c09"
VENDOR = REPO_ROOT / "_vendor"
MATHJAX_ENTRY = "tex-mml-chtml.js"


def mathjax_dir() -> Path | None:
    """The vendored MathJax ``es5`` folder, if fetched."""
    folder = VENDOR / f"mathjax-{MATHJAX_VERSION}" / "es5"
    return folder if (folder / MATHJAX_ENTRY).exists() else None


def copy_mathjax(dest: Path) -> bool:
    """Copy the vendored MathJax to ``dest`` (False if it is not fetched), without what a page
    never loads: the other combined components at the top of ``es5/`` (each a whole MathJax of
    its own) and the Node adaptors. What ``MATHJAX_ENTRY`` loads on demand stays: fonts, TeX
    extensions, the menu's renderer and accessibility modules."""
    src = mathjax_dir()
    if src is None:
        return False

    def unused(folder: str, names: list[str]) -> list[str]:
        if Path(folder) != src:
            return []
        return [n for n in names if n == "adaptors" or (n.endswith(".js") and n != MATHJAX_ENTRY)]

    shutil.copytree(src, dest, ignore=unused)
    return True


def fetch_mathjax() -> Path | None:
    """``npm pack mathjax@VERSION``, check its sha256, unpack ``es5/`` into ``_vendor/``."""
    if mathjax_dir():
        return mathjax_dir()
    npm = shutil.which("npm")
    if npm is None:
        print("npm not found: the book will load MathJax from its CDN")
        return None
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.run([npm, "pack", f"mathjax@{MATHJAX_VERSION}", "--silent"],
                              cwd=tmp, capture_output=True, text=True, timeout=300)
        tgz = Path(tmp) / f"mathjax-{MATHJAX_VERSION}.tgz"
        if proc.returncode != 0 or not tgz.exists():
            print(f"npm pack mathjax failed ({proc.stderr.strip()[:200]}): using the CDN")
            return None
        digest = hashlib.sha256(tgz.read_bytes()).hexdigest()
        if digest != MATHJAX_SHA256:
            raise RuntimeError(f"mathjax-{MATHJAX_VERSION}.tgz sha256 {digest} != pinned")
        dest = VENDOR / f"mathjax-{MATHJAX_VERSION}"
        with tarfile.open(tgz) as tar:
            members = [m for m in tar.getmembers() if m.name.startswith("package/es5/")]
            tar.extractall(tmp, members=members, filter="data")
        if dest.exists():
            shutil.rmtree(dest)
        dest.mkdir(parents=True)
        shutil.move(str(Path(tmp) / "package" / "es5"), dest / "es5")
    print(f"MathJax {MATHJAX_VERSION} -> {dest}")
    return mathjax_dir()
