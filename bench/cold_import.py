"""Cold import time of each function's handler module, beside a minimal powertools module with
the same utilities (``bench/minimal_handler.py``).  Target (issue 2): ≤ 1.3× the minimal module.

As in Lambda: CPython 3.12 started with ``-I -S -B`` (``/opt`` and ``/var/task`` are read-only:
nothing is written), ``sys.path`` = the asset folder, the shared layer and the deps layer (built
with the stack's recipe for this machine into ``build/bench``); if no 3.12 or no PyPI, the
project's virtualenv instead (then the packages the layer lacks, the Tracer's patches for them and
the virtualenv's byte code blur the figures).  Only the import is timed, not the interpreter's
start; the best of several fresh processes, taken round-robin so that a busy moment of the machine
hits every module alike.  Three conditions (tracing on: ``LAMBDA_TASK_ROOT`` set, so the Tracer
loads the X-Ray SDK and patches botocore, as in Lambda):

* tracing, no ``.pyc``: the sources alone, as the assets were shipped before they were compiled at
  bundling time — every cold start compiles them (the standard library has its ``.pyc``, in Lambda
  too);
* as deployed: tracing, and the byte code the stack's bundling ships (each folder copied without
  ``.pyc`` and compiled by ``infra.layer_build``'s recipe: 3.12, unchecked-hash);
* tracing off (``POWERTOOLS_TRACE_DISABLED``), the same byte code: the local stack and the tests.

Where the time goes: the import's self time per top-level package (``-X importtime``, as deployed).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from bench.common import REPO, Options, heading, table
from hitl import wiring
from infra import layer_build

TARGET_RATIO = 1.3
YARDSTICK = "minimal_handler"
SHARED_LAYER = REPO / "layers" / "shared" / "python"
LAYER_DIR = REPO / "build" / "bench" / "deps"
#: ``python -c`` program: put argv[2] (JSON list) in front of sys.path, time importing argv[1]
TIMED_IMPORT = (
    "import json, sys, time\n"
    "sys.path[:0] = json.loads(sys.argv[2])\n"
    "started = time.perf_counter()\n"
    "__import__(sys.argv[1])\n"
    "print(time.perf_counter() - started)\n"
)


@dataclass(frozen=True)
class Subject:
    label: str
    module: str
    folder: Path


@dataclass(frozen=True)
class Condition:
    label: str
    tracing: bool
    byte_code: bool


CONDITIONS = (
    Condition("tracing, no .pyc", tracing=True, byte_code=False),
    Condition("as deployed: tracing, .pyc", tracing=True, byte_code=True),
    Condition("no tracing, .pyc", tracing=False, byte_code=True),
)
DEPLOYED = CONDITIONS[1]


@dataclass(frozen=True)
class Runtime:
    """The interpreter and the path the handler modules are imported with."""

    python: str
    flags: tuple[str, ...]
    layers: tuple[str, ...]
    description: str


def subjects() -> list[Subject]:
    """Every function of the wiring whose handler exists yet, then the yardstick."""
    found = []
    for function in wiring.FUNCTIONS:
        module = function.handler.rsplit(".", 1)[0]
        if (REPO / function.asset / f"{module}.py").exists():
            found.append(Subject(f"{function.name} ({module})", module, REPO / function.asset))
    return [*found, Subject("minimal powertools module", YARDSTICK, Path(__file__).parent)]


def missing() -> list[str]:
    return [f.name for f in wiring.FUNCTIONS if not (REPO / f.asset / f"{f.handler.rsplit('.', 1)[0]}.py").exists()]


def lambda_runtime() -> Runtime:
    """Python 3.12 with the deps layer built for this machine, else this virtualenv."""
    python = layer_build.find_python()  # the one the stack's bundling compiles with
    if python is not None:
        try:
            layer = deps_layer()
        except subprocess.CalledProcessError as error:
            print(f"(could not build the deps layer, using the virtualenv: {error.stderr[-500:]})")
        else:
            return Runtime(
                python, ("-I", "-S"), (str(SHARED_LAYER), str(layer)), f"Python 3.12 -I -S, layers from {layer}"
            )
    else:
        print("(no CPython 3.12 found; using the virtualenv)")
    return Runtime(sys.executable, (), (), f"the virtualenv's Python {sys.version.split()[0]}")


def deps_layer() -> Path:
    """The deps layer for this machine, rebuilt when the requirements or the recipe change."""
    args = layer_build.pip_install_args(LAYER_DIR, layer_build.host_platform())
    stamp = hashlib.sha256(layer_build.requirements_file().read_bytes() + json.dumps(args).encode() + b"v1").hexdigest()
    stamp_file = LAYER_DIR / "bench-stamp"
    packages = LAYER_DIR / "python"
    if stamp_file.exists() and stamp_file.read_text() == stamp and packages.is_dir():
        return packages
    print("(building the deps layer for this machine …)", flush=True)
    subprocess.run([sys.executable, "-m", "pip", *args], check=True, capture_output=True, text=True)
    stamp_file.write_text(stamp)
    return packages


def environment(folder: Path, condition: Condition) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "POWERTOOLS_", "AWS_", "LAMBDA_"))}
    queues = {subscription.name: "" for subscription in wiring.SUBSCRIPTIONS}
    deployment = wiring.Deployment("bench", "bench", "https://bench.example", queues, kms_key_id="bench")
    env.update(wiring.shared_environment(deployment))
    env.update(
        AWS_DEFAULT_REGION="us-east-1",
        AWS_REGION="us-east-1",
        AWS_LAMBDA_FUNCTION_NAME="bench",
        AWS_EXECUTION_ENV="AWS_Lambda_python3.12",
    )
    if condition.tracing:
        env["LAMBDA_TASK_ROOT"] = str(folder)
    else:
        env["POWERTOOLS_TRACE_DISABLED"] = "true"
    return env


@dataclass
class Importer:
    """Imports from two copies of the asset folders and layers, each imported with ``-B`` (nothing
    written): one without byte code, one bundled as the stack bundles them (copied without
    ``.pyc``, compiled by the runtime's interpreter with ``infra.layer_build``'s recipe)."""

    runtime: Runtime
    scratch: Path
    subjects: list[Subject]

    def root(self, condition: Condition) -> Path:
        return self.scratch / ("pyc" if condition.byte_code else "no-pyc")

    def prepare(self) -> None:
        folders = {Path("task") / s.module: s.folder for s in self.subjects} | {
            Path(f"layer{n}"): Path(layer) for n, layer in enumerate(self.runtime.layers)
        }
        sources, compiled = (self.root(Condition("", tracing=True, byte_code=b)) for b in (False, True))
        for name, folder in folders.items():
            shutil.copytree(folder, sources / name, ignore=shutil.ignore_patterns(*layer_build.SKIPPED))
            layer_build.bundle_source(folder, compiled / name, self.runtime.python)

    def command(self, subject: Subject, condition: Condition, *extra: str) -> list[str]:
        root = self.root(condition)
        path = [str(root / "task" / subject.module)] + [
            str(root / f"layer{n}") for n in range(len(self.runtime.layers))
        ]
        flags = [*self.runtime.flags, "-B", *extra]
        return [self.runtime.python, *flags, "-c", TIMED_IMPORT, subject.module, json.dumps(path)]

    def _run(self, subject: Subject, condition: Condition, *extra: str) -> subprocess.CompletedProcess[str]:
        answer = subprocess.run(
            self.command(subject, condition, *extra),
            capture_output=True,
            text=True,
            env=environment(self.root(condition) / "task" / subject.module, condition),
            cwd=self.root(condition) / "task" / subject.module,
            check=False,
        )
        if answer.returncode:
            raise RuntimeError(f"importing {subject.module} failed:\n{answer.stderr[-2000:]}")
        return answer

    def timed(self, subject: Subject, condition: Condition) -> float:
        return float(self._run(subject, condition).stdout.strip().splitlines()[-1])

    def self_times(self, subject: Subject, condition: Condition) -> Counter[str]:
        """Microseconds of import self time per top-level package, from ``-X importtime``."""
        totals: Counter[str] = Counter()
        for line in self._run(subject, condition, "-X", "importtime").stderr.splitlines():
            if not line.startswith("import time:") or "self [us]" in line:
                continue
            self_us, _, name = (part.strip() for part in line.removeprefix("import time:").split("|"))
            totals[name.split(".")[0]] += int(self_us)
        return totals


def run(options: Options) -> None:
    heading(f"Cold import of each function module (ms, best of {options.repeats} fresh processes)")
    runtime = lambda_runtime()
    measured_subjects = subjects()
    print(f"runtime: {runtime.description}")
    if missing():
        print(f"(not measured, no handler module yet: {', '.join(missing())})")
    print()
    with tempfile.TemporaryDirectory(prefix="hitl-bench-imports-") as scratch:
        importer = Importer(runtime, Path(scratch), measured_subjects)
        importer.prepare()
        measured: dict[tuple[str, Condition], float] = {}
        for _ in range(options.repeats):
            for subject in measured_subjects:
                for condition in CONDITIONS:
                    took = importer.timed(subject, condition)
                    key = (subject.module, condition)
                    measured[key] = min(took, measured.get(key, took))
        deployed = DEPLOYED
        breakdown = {}
        for subject in measured_subjects:
            runs = [importer.self_times(subject, deployed) for _ in range(min(3, options.repeats))]
            breakdown[subject.label] = min(runs, key=lambda totals: sum(totals.values()))

    rows = []
    for subject in measured_subjects:
        cells: list[str] = []
        for condition in CONDITIONS:
            took = measured[subject.module, condition]
            cells += [f"{took * 1000:.0f}", f"{took / measured[YARDSTICK, condition]:.2f}x"]
        ratio = measured[subject.module, deployed] / measured[YARDSTICK, deployed]
        verdict = "" if subject.module == YARDSTICK else ("ok" if ratio <= TARGET_RATIO else "OVER")
        rows.append((subject.label, *cells, verdict))
    headers = ["module"]
    for condition in CONDITIONS:
        headers += [condition.label, "ratio"]
    print(table([*headers, f"≤ {TARGET_RATIO}x as deployed"], rows))

    print(
        f"\nImport self time per top-level package, as deployed (ms; -X importtime, best of {min(3, options.repeats)}):"
    )
    packages: Counter[str] = Counter()
    for totals in breakdown.values():
        packages.update(totals)
    top = [name for name, _ in packages.most_common(9)]
    print(
        table(
            ["module", *top, "rest", "total"],
            [
                (
                    label,
                    *(f"{totals[name] / 1000:.0f}" for name in top),
                    f"{(sum(totals.values()) - sum(totals[n] for n in top)) / 1000:.0f}",
                    f"{sum(totals.values()) / 1000:.0f}",
                )
                for label, totals in breakdown.items()
            ],
        )
    )
