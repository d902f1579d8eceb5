"""What the runner reads from the environment, read here once (at import).

- ``BOOK_BUILD_DIR``: the build folder (default ``_build``), so several people or tests can build
  side by side without sharing a stage;
- ``BOOK_TOC``: another table of contents (e.g. intro + one chapter while drafting it);
- ``BOOK_ARCHIVE_DIR``: where archived runs live (default ``archive``; tests use a temporary one);
- ``BOOK_THREADS``: torch threads per chapter (default: the cores shared out over ``-j``);
- ``BOOK_MEMO_DIR``: where chapters keep their sweeps (default ``<build>/memo``).

and, for the pages' re-run boxes, where the code is published when this checkout has no ``origin``
remote, else only the shipped source archive (:data:`SOURCE_ARCHIVE`).

The runner never writes the environment of its own process: what a chapter's kernel needs is
given to that kernel's process (``lib.book.execute.kernel_env``).
"""

from __future__ import annotations

import os
from pathlib import Path

from lib.core.device import THREADS_VAR
from lib.core.memo import MEMO_DIR_VAR
from lib.core.results import REPO_ROOT

BUILD = Path(os.environ.get("BOOK_BUILD_DIR", REPO_ROOT / "_build")).resolve()
TOC = Path(os.environ.get("BOOK_TOC", REPO_ROOT / "_toc.yml")).resolve()
ARCHIVE = Path(os.environ.get("BOOK_ARCHIVE_DIR", REPO_ROOT / "archive")).resolve()
THREADS = int(os.environ.get(THREADS_VAR, "0"))  # 0: share the cores out over the jobs
MEMO_DIR = Path(os.environ.get(MEMO_DIR_VAR, BUILD / "memo")).resolve()

#: The source of the build, shipped beside the book's pages (``<html>/scaling-universality.tar.gz``,
#: the working tree's tracked and unignored files) so a reader gets the exact code of what they
#: read without knowing where it is published; a ``git remote origin``, when the checkout has
#: one, is shown as well (``lib.book.rerun.repository_url``).
SOURCE_ARCHIVE = "scaling-universality.tar.gz"
SOURCE_DIR = "scaling-universality"  # the folder the archive unpacks to
