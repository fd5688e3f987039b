"""Writes (or checks) docs/openapi.json: ``make openapi``, and ``--check`` in ``make test``.

The document is the one the API function serves (``hitl.http.openapi``), taken from its resolver
imported as Lambda imports it.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path
from typing import Any

from hitl import wiring
from hitl.http import openapi

ROOT = Path(__file__).resolve().parents[1]
DOCUMENT = ROOT / "docs" / "openapi.json"


def generate() -> dict[str, Any]:
    sys.path.insert(0, str(ROOT / wiring.API.asset))  # the function's own folder, as Lambda has it
    module = importlib.import_module(wiring.API.handler.rsplit(".", 1)[0])
    return openapi.document(module.app)


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if docs/openapi.json is out of date")
    args = parser.parse_args(argv)
    fresh = render(generate())
    if args.check:
        if not DOCUMENT.exists() or DOCUMENT.read_text() != fresh:
            print("docs/openapi.json is out of date: run `make openapi` and commit it", file=sys.stderr)
            return 1
        return 0
    DOCUMENT.parent.mkdir(exist_ok=True)
    DOCUMENT.write_text(fresh)
    print(f"wrote {DOCUMENT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
