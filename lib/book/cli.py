"""Command line of the runner.

    python -m lib.book build [--profile default] [--only CH ...] [-p NAME VALUE ...]
                             [--device cuda] [--force] [-j N]
    python -m lib.book run CH [CH ...] [--profile P] [-p NAME VALUE ...]   # execute, no build
    python -m lib.book archive CH [CH ...] --profile full --device cuda    # keep a GPU run
    python -m lib.book params CH                                         # parameter table
    python -m lib.book list
    python -m lib.book new-chapter NAME                                  # fork: scaffold a chapter
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lib.book.archive import archive_chapter
from lib.book.build import build_book
from lib.book.execute import execute_stale, executed_path
from lib.book.pages import PROFILES, BookError, Page, discover, parse_value, plan
from lib.core.chapter import results_root
from lib.core.params import ParameterError


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--profile", default="default", choices=PROFILES,
                   help="parameter profile (default: %(default)s)")
    p.add_argument("-p", "--param", nargs=2, action="append", default=[],
                   metavar=("NAME", "VALUE"), help="override one parameter (repeatable)")
    p.add_argument("--device", choices=("cpu", "cuda"), help="shorthand for -p device …")
    p.add_argument("--force", action="store_true", help="re-execute even if cached")
    p.add_argument("-j", "--jobs", type=int, default=1, help="chapters executed at once")
    p.add_argument("--timeout", type=int, default=3600, help="seconds per cell")
    p.add_argument("--log", action="store_true", help="stream each cell's output")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lib.book", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="execute stale chapters and build the HTML book")
    _common(b)
    b.add_argument("--only", nargs="+", metavar="CH", help="apply -p overrides to these only")
    r = sub.add_parser("run", help="execute the named chapters (no HTML build)")
    r.add_argument("chapters", nargs="+")
    _common(r)
    a = sub.add_parser("archive", help="execute the named chapters (or reuse their cached run) "
                       "and keep notebook, data and environment under archive/<profile>/")
    a.add_argument("chapters", nargs="+")
    _common(a)
    pa = sub.add_parser("params", help="show a chapter's parameters and allowed ranges")
    pa.add_argument("chapter")
    sub.add_parser("list", help="list the book's pages")
    sub.add_parser("assets", help="fetch offline assets (MathJax) from the npm registry")
    nc = sub.add_parser("new-chapter", help="scaffold a new chapter (source, params, lib, test)")
    nc.add_argument("name")
    args = parser.parse_args(argv)

    try:
        if args.cmd == "list":
            for page in discover():
                kind = f"notebook, stage {page.stage}" if page.notebook else "markdown"
                print(f"{page.name:<20} {kind}")
            return 0
        if args.cmd == "assets":
            from lib.book.assets import fetch_mathjax

            fetch_mathjax()
            return 0
        if args.cmd == "new-chapter":
            from lib.book.scaffold import new_chapter

            for path in new_chapter(args.name):
                print(f"wrote {path}")
            print(f"next: make book   (or: python -m lib.book run {args.name} --profile smoke)")
            return 0
        if args.cmd == "params":
            pages = {p.name: p for p in discover()}
            if args.chapter not in pages:
                raise ParameterError(f"chapter {args.chapter!r} is unknown; known: "
                                     + ", ".join(pages))
            for row in pages[args.chapter].model.describe():
                print(f"{row['name']:<16} default {row['default']:<24} allowed {row['allowed']}"
                      f"\n{'':<16} {row['meaning']}")
            return 0
        overrides = {name: parse_value(value) for name, value in args.param}
        if args.device:
            overrides["device"] = args.device
        if args.cmd == "build":
            build_book(args.profile, args.only, overrides, args.force, args.jobs,
                       timeout=args.timeout, log=args.log)
            return 0
        pages = plan(args.profile, args.chapters, overrides)
        execute_stale(pages, args.profile, args.chapters,
                      force=args.chapters if args.force else [], jobs=args.jobs,
                      timeout=args.timeout, log=args.log)
        if args.cmd == "archive":
            command = ["python", "-m", "lib.book", *(sys.argv[1:] if argv is None else argv)]
            archive(pages, args.chapters, args.profile, command)
        return 0
    except ParameterError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except BookError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1


def archive(pages: list[Page], chapters: list[str], profile: str, command: list[str]) -> None:
    """Keep each executed chapter with its results under ``archive/<profile>/<chapter>/``."""
    by_name = {p.name: p for p in pages}
    for chapter in chapters:
        page = by_name[chapter]
        results = Path(page.params.get("results_dir") or results_root(profile) / chapter)
        written = archive_chapter(chapter, profile, executed_path(page, profile), results,
                                  command)
        print(f"archived {chapter} ({profile}) -> {written}", flush=True)
