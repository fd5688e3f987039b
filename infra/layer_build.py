"""The recipe of the third-party ("deps") Lambda layer, without Docker.

``pip install --platform … --only-binary=:all: --target <dir>/python`` downloads the
wheels built for the Lambda platform (manylinux2014, CPython 3.12), whatever machine
runs it.  The CDK stack bundles the layer for arm64 with it (``infra.capabilities.layers``);
``python -m infra.layer_build`` (``make layer``) and the packaging tests build the same
layer for this machine's platform, so the code can be tried against exactly what Lambda
gets.  Plain Python: no CDK import, no network until ``build`` is called.
"""

from __future__ import annotations

import argparse
import platform
import shutil
import subprocess
import sys
from pathlib import Path

#: The Lambda runtime the layer (and every function) targets.  The compiled wheels
#: (pydantic_core, wrapt, markupsafe) are built per CPython version, so the
#: functions' runtime and this must move together.
PYTHON_VERSION = "3.12"

#: The platform of the deployed functions (``Architecture.ARM_64``).
LAMBDA_PLATFORM = "manylinux2014_aarch64"

#: The repository root: asset paths of the wiring are relative to it.
REPO_ROOT = Path(__file__).resolve().parent.parent


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
    the building interpreter (not 3.12) would be useless in Lambda.
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


def build(target_dir: str | Path, platform_tag: str = LAMBDA_PLATFORM) -> Path:
    """Install the layer afresh into ``target_dir`` (needs PyPI); return its ``python`` folder."""
    packages = Path(target_dir) / "python"
    shutil.rmtree(packages, ignore_errors=True)
    args = pip_install_args(target_dir, platform_tag)
    subprocess.run([sys.executable, "-m", "pip", *args], check=True)  # noqa: S603 (our own fixed recipe)
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
    print(build(args.target, args.platform))


if __name__ == "__main__":
    main()
