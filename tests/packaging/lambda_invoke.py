"""Invokes one handler the way Lambda's Python runtime does; run by the packaging tests in a
fresh CPython 3.12 started with ``-I -S`` (no PYTHON* variables, no site-packages, no user
site), never imported by pytest.

``python3.12 -I -S -B lambda_invoke.py SPEC.json`` reads ``{"path": [...], "handler":
"module.function", "function_name", "memory_mb", "events": [...], "compiled": [...], "out":
"result.json"}``, puts ``path`` (the function's asset, the layers, boto3) in front of the standard
library, imports the handler, calls it once per event with a Lambda-like context, and writes
``{"python", "results", "foreign", "uncompiled"}`` to ``out``; ``foreign`` lists every imported
module that came from somewhere other than ``path`` or the standard library, ``uncompiled`` every
module imported from the sources under ``compiled`` without valid byte code of this interpreter
beside it, which Lambda would compile at every cold start (both must stay empty).
Standard library only: nothing else is importable before ``path`` is set.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import sys
import sysconfig
import time
import uuid
from pathlib import Path
from typing import Any


class Context:
    """The attributes of Lambda's context object that powertools reads."""

    def __init__(self, function_name: str, memory_mb: int, timeout_s: int = 30) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = memory_mb
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}"
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "packaging-test"
        self._deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def _under(file: str, roots: list[str]) -> bool:
    where = str(Path(file).resolve())
    return any(where == root or where.startswith(root + "/") for root in roots)


def foreign_modules(allowed: list[str]) -> list[str]:
    """Modules loaded from a file outside ``allowed`` and the standard library."""
    roots = [str(Path(p).resolve()) for p in allowed]
    roots += [str(Path(sysconfig.get_paths()[k]).resolve()) for k in ("stdlib", "platstdlib")]
    found = []
    main = sys.modules["__main__"]
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if module is main or not file:  # this script, also known as __mp_main__
            continue
        if not _under(file, roots):
            found.append(f"{name} ({file})")
    return sorted(found)


def uncompiled_modules(compiled: list[str]) -> list[str]:
    """Modules imported from a ``.py`` under ``compiled`` whose ``__pycache__`` file is missing,
    of another interpreter (magic number), not hash-based and unchecked (what the bundling writes),
    or stale (its source hash differs from the source's)."""
    roots = [str(Path(p).resolve()) for p in compiled]
    found = []
    for name, module in list(sys.modules.items()):
        spec = getattr(module, "__spec__", None)
        origin, cached = getattr(spec, "origin", None), getattr(spec, "cached", None)
        if not origin or not origin.endswith(".py") or not _under(origin, roots):
            continue
        try:
            header = Path(cached or "").read_bytes()[:16]
        except OSError:
            found.append(f"{name}: no byte code ({cached})")
            continue
        if header[:4] != importlib.util.MAGIC_NUMBER:
            found.append(f"{name}: byte code of another Python ({cached})")
        elif int.from_bytes(header[4:8], "little") != 0b01:
            found.append(f"{name}: byte code not unchecked-hash ({cached})")
        elif header[8:16] != importlib.util.source_hash(Path(origin).read_bytes()):
            found.append(f"{name}: stale byte code ({cached})")
    return sorted(found)


def main(spec_file: str) -> None:
    spec: dict[str, Any] = json.loads(Path(spec_file).read_text())
    sys.path[:0] = spec["path"]
    module_name, function = spec["handler"].rsplit(".", 1)
    handler = getattr(importlib.import_module(module_name), function)
    results = [
        handler(event, Context(spec["function_name"], spec["memory_mb"]))  # one warm instance, as in Lambda
        for event in spec["events"]
    ]
    answer = {
        "python": list(sys.version_info[:2]),
        "results": results,
        "foreign": foreign_modules(spec["path"]),
        "uncompiled": uncompiled_modules(spec.get("compiled", [])),
    }
    Path(spec["out"]).write_text(json.dumps(answer))


if __name__ == "__main__":
    main(sys.argv[1])
