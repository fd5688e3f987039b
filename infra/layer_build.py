"""The recipes of what Lambda gets: the third-party ("deps") layer, and our own code compiled.

``pip install --platform … --only-binary=:all: --target <dir>/python`` downloads the
wheels built for the Lambda platform (manylinux2014, CPython 3.12), whatever machine
runs it.  The CDK stack bundles the layer for arm64 with it (``infra.capabilities.layers``);
``python -m infra.layer_build`` (``make layer``) and the packaging tests build the same
layer for this machine's platform, so the code can be tried against exactly what Lambda
gets.

Byte code: Lambda's ``/opt`` and ``/var/task`` are read-only, so a module shipped without its
``.pyc`` is compiled again on every cold start (~0.5 s for powertools, pydantic and botocore).
Every asset (the deps layer, the shared layer, each function's folder) is therefore compiled at
bundling time by a CPython 3.12 — the byte code format changes with each minor version, and a
``.pyc`` of another version is silently ignored — with ``--invalidation-mode unchecked-hash``:
the ``.pyc`` stays valid whatever modification times the zipping gives the sources (the sources
are copied afresh before each compilation, so none is ever stale).  No 3.12 here: bundling fails.

Plain Python: no CDK import, no network until ``build`` is called.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from glob import glob
from pathlib import Path

#: The Lambda runtime the layer (and every function) targets.  The compiled wheels
#: (pydantic_core, wrapt, markupsafe) and the byte code are per CPython version, so the
#: functions' runtime and this must move together.
PYTHON_VERSION = "3.12"

#: ``sys.implementation.cache_tag`` of that runtime: the interpreter that compiles must have it.
CACHE_TAG = "cpython-" + PYTHON_VERSION.replace(".", "")

#: The platform of the deployed functions (``Architecture.ARM_64``).
LAMBDA_PLATFORM = "manylinux2014_aarch64"

#: The repository root: asset paths of the wiring are relative to it.
REPO_ROOT = Path(__file__).resolve().parent.parent

#: An interpreter to compile with, when it is nowhere pyenv or ``PATH`` would show it.
PYTHON_ENV = "HITL_PYTHON312"

#: What never goes into an asset: byte code of whichever interpreter ran the sources here.
SKIPPED = ("__pycache__", "*.pyc")


class NoPythonError(RuntimeError):
    """No CPython of Lambda's version on this machine: the assets cannot be compiled for it."""


def requirements_file() -> Path:
    """The layer's pinned requirements (``layers/deps/requirements.txt``)."""
    return REPO_ROOT / "layers" / "deps" / "requirements.txt"


def host_platform() -> str:
    """The manylinux tag of this machine, to build a layer that runs here."""
    machine = platform.machine().lower()
    arch = {"amd64": "x86_64", "arm64": "aarch64"}.get(machine, machine)
    return f"manylinux2014_{arch}"


def pip_install_args(target_dir: str | Path, platform_tag: str = LAMBDA_PLATFORM) -> list[str]:
    """The arguments after ``python -m pip`` that install the layer into ``target_dir``.

    ``target_dir`` is the layer's root: packages go to ``<target_dir>/python``, where
    Lambda looks for them (``/opt/python``).  ``--no-compile``: byte code compiled by
    the building interpreter (not necessarily 3.12) would be useless in Lambda;
    ``compile_args`` compiles the layer afterwards with a 3.12.
    """
    return [
        "install",
        "--requirement",
        str(requirements_file()),
        "--target",
        str(Path(target_dir) / "python"),
        "--platform",
        platform_tag,
        "--implementation",
        "cp",
        "--python-version",
        PYTHON_VERSION,
        "--only-binary=:all:",
        "--no-compile",
        "--upgrade",
        "--quiet",
    ]


def recipe_fingerprint() -> str:
    """A digest of these recipes (this file).  The stack puts it in every bundled asset's options,
    which CDK hashes: a change of recipe bundles and deploys every asset again, even where the
    sources did not change (else the asset of the old recipe, same hash, would stay deployed)."""
    return hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16]


def compile_args(directory: str | Path) -> list[str]:
    """The arguments after a CPython 3.12 that compile every module under ``directory``."""
    return ["-m", "compileall", "-q", "--invalidation-mode", "unchecked-hash", str(directory)]


# --- the interpreter that compiles -----------------------------------------------------------


def _version_key(path: str) -> tuple[int, ...]:
    """``…/versions/3.12.10/bin/python3.12`` → ``(3, 12, 10)``, so that 3.12.10 sorts after 3.12.9."""
    match = re.search(r"/versions/(\d+(?:\.\d+)*)", path)
    return tuple(int(part) for part in match.group(1).split(".")) if match else ()


def candidates() -> Iterator[str]:
    """Interpreters that may be a CPython 3.12: ``$HITL_PYTHON312``, pyenv's (newest first),
    then ``python3.12`` on ``PATH``."""
    if os.environ.get(PYTHON_ENV):
        yield os.environ[PYTHON_ENV]
    roots = [os.environ.get("PYENV_ROOT", ""), str(Path.home() / ".pyenv")]
    pyenv = shutil.which("pyenv")
    if pyenv:
        answer = subprocess.run([pyenv, "root"], capture_output=True, text=True, check=False)  # noqa: S603
        roots.insert(0, answer.stdout.strip())
    for root in dict.fromkeys(filter(None, roots)):
        yield from sorted(glob(f"{root}/versions/{PYTHON_VERSION}*/bin/python{PYTHON_VERSION}"), key=_version_key)[::-1]
    on_path = shutil.which(f"python{PYTHON_VERSION}")
    if on_path:
        yield on_path


def is_lambda_python(python: str) -> bool:
    """Whether ``python`` runs and is a CPython of Lambda's version (by its byte code cache tag:
    a pyenv shim of another version, or a PyPy, is not)."""
    try:
        answer = subprocess.run(  # noqa: S603 (a candidate interpreter, asked one fixed question)
            [python, "-I", "-c", "import sys; print(sys.implementation.cache_tag)"],
            capture_output=True,
            text=True,
            check=False,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return answer.returncode == 0 and answer.stdout.strip() == CACHE_TAG


def find_python() -> str | None:
    """A CPython of Lambda's version (3.12) on this machine, or ``None``."""
    return next((python for python in candidates() if is_lambda_python(python)), None)


def require_python() -> str:
    """``find_python()``, or ``NoPythonError`` saying how to get one."""
    python = find_python()
    if python is None:
        raise NoPythonError(
            f"No CPython {PYTHON_VERSION} found to compile the Lambda assets (Lambda's runtime is python"
            f"{PYTHON_VERSION}; byte code of another version would be ignored there, so sources are never shipped "
            f"compiled by another one). Install it (e.g. `pyenv install {PYTHON_VERSION}`), put python{PYTHON_VERSION} "
            f"on PATH, or set {PYTHON_ENV} to its path."
        )
    return python


# --- the recipes --------------------------------------------------------------------------------


def compile_tree(directory: str | Path, python: str) -> None:
    """Compile every module under ``directory`` with ``python`` (a CPython 3.12)."""
    subprocess.run([python, *compile_args(directory)], check=True)  # noqa: S603 (our own fixed recipe)


def install_deps(target_dir: str | Path, platform_tag: str = LAMBDA_PLATFORM) -> None:
    """``pip install`` the layer's requirements into ``<target_dir>/python`` (needs PyPI)."""
    subprocess.run([sys.executable, "-m", "pip", *pip_install_args(target_dir, platform_tag)], check=True)  # noqa: S603


def bundle_deps(output_dir: str | Path, platform_tag: str = LAMBDA_PLATFORM, python: str | None = None) -> None:
    """The deps layer into ``output_dir``: installed, then compiled by ``python`` (default: found;
    looked for first, so that a machine without 3.12 fails before downloading anything)."""
    python = python or require_python()
    install_deps(output_dir, platform_tag)
    compile_tree(output_dir, python)


def bundle_source(source: str | Path, output_dir: str | Path, python: str | None = None) -> None:
    """A folder of our sources into ``output_dir``: copied without byte code, then compiled."""
    python = python or require_python()
    shutil.copytree(source, output_dir, ignore=shutil.ignore_patterns(*SKIPPED), dirs_exist_ok=True)
    compile_tree(output_dir, python)


def build(target_dir: str | Path, platform_tag: str = LAMBDA_PLATFORM, python: str | None = None) -> Path:
    """Build the deps layer afresh into ``target_dir`` (needs PyPI); return its ``python`` folder."""
    packages = Path(target_dir) / "python"
    shutil.rmtree(packages, ignore_errors=True)
    bundle_deps(target_dir, platform_tag, python)
    return packages


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Build the deps Lambda layer without Docker.")
    parser.add_argument("target", nargs="?", default="build/layers/deps", help="layer root to fill")
    parser.add_argument(
        "--platform",
        default=host_platform(),
        help=f"manylinux tag (default: this machine's; Lambda arm64 is {LAMBDA_PLATFORM})",
    )
    args = parser.parse_args(argv)
    try:
        print(build(args.target, args.platform))
    except NoPythonError as error:
        raise SystemExit(str(error)) from None


if __name__ == "__main__":
    main()
