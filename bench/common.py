"""Helpers the measurements share: options, percentiles, tables, the handlers, the environment."""

from __future__ import annotations

import importlib.util
import math
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from glob import glob
from pathlib import Path
from types import ModuleType

from hitl import wiring

REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Options:
    #: fewer samples, for a quick look
    quick: bool = False

    @property
    def requests(self) -> int:
        """Sequential requests per route for latencies."""
        return 10 if self.quick else 50

    @property
    def repeats(self) -> int:
        """Fresh processes per module for cold imports (the best one counts)."""
        return 2 if self.quick else 5


def percentile(samples: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (``p`` in 0–100)."""
    ordered = sorted(samples)
    if not ordered:
        return math.nan
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """Rows as aligned text columns; numbers right-aligned."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    numeric = [all(_is_number(row[i]) for row in cells[1:]) and len(cells) > 1 for i in range(len(headers))]
    lines = []
    for n, row in enumerate(cells):
        parts = [
            c.rjust(w) if numeric[i] and n else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(parts).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _is_number(text: str) -> bool:
    try:
        float(text.rstrip("×x%"))
    except ValueError:
        return False
    return True


def heading(title: str) -> None:
    print(f"\n== {title} ==\n", flush=True)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def find_python312() -> str | None:
    """A CPython 3.12 (Lambda's runtime): pyenv's (``$PYENV_ROOT`` or ``pyenv root``), else one on PATH."""
    roots = [os.environ.get("PYENV_ROOT", ""), str(Path.home() / ".pyenv"), "/root/.pyenv"]
    pyenv = shutil.which("pyenv")
    if pyenv:
        answer = subprocess.run([pyenv, "root"], capture_output=True, text=True, check=False)
        roots.insert(0, answer.stdout.strip())
    for root in filter(None, roots):
        found = sorted(glob(f"{root}/versions/3.12*/bin/python3.12"), reverse=True)
        if found:
            return found[0]
    return shutil.which("python3.12")


def handler_module(function: wiring.Function) -> ModuleType:
    """A function's handler module, loaded from its asset folder as Lambda would import it."""
    name = function.handler.rsplit(".", 1)[0]
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, REPO / function.asset / f"{name}.py")
    if spec is None or spec.loader is None:
        raise ImportError(f"no handler module {name} in {function.asset}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def quiet_powertools_environment() -> dict[str, str]:
    """Powertools as in tests: no tracing daemon, no metric lines on stdout, warnings only."""
    return {
        wiring.ENV_TRACE_DISABLED: "true",
        wiring.ENV_METRICS_DISABLED: "true",
        wiring.ENV_LOG_LEVEL: "WARNING",
        wiring.ENV_SERVICE: wiring.SERVICE_NAME,
        wiring.ENV_METRICS_NAMESPACE: wiring.METRICS_NAMESPACE,
    }


def set_environment(values: dict[str, str]) -> dict[str, str | None]:
    """Set variables; returns what to restore with ``restore_environment``."""
    previous = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    return previous


def restore_environment(previous: dict[str, str | None]) -> None:
    for name, value in previous.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
