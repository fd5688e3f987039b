"""Invokes one handler the way Lambda's Python runtime does; run by the packaging tests in a
fresh CPython 3.12 started with ``-I -S`` (no PYTHON* variables, no site-packages, no user
site), never imported by pytest.

``python3.12 -I -S lambda_invoke.py SPEC.json`` reads ``{"path": [...], "handler":
"module.function", "function_name", "memory_mb", "events": [...], "out": "result.json"}``,
puts ``path`` (the function's asset, the layers, boto3) in front of the standard library,
imports the handler, calls it once per event with a Lambda-like context, and writes
``{"python", "results", "foreign"}`` to ``out``; ``foreign`` lists every imported module that
came from somewhere other than ``path`` or the standard library (it must stay empty).
Standard library only: nothing else is importable before ``path`` is set.
"""

from __future__ import annotations

import importlib
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
        where = str(Path(file).resolve())
        if not any(where == root or where.startswith(root + "/") for root in roots):
            found.append(f"{name} ({file})")
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
    }
    Path(spec["out"]).write_text(json.dumps(answer))


if __name__ == "__main__":
    main(sys.argv[1])
