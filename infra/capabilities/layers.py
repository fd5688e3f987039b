"""The two Lambda layers: our shared package and the third-party dependencies."""

from __future__ import annotations

import subprocess
import sys

import aws_cdk as cdk
import jsii
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from infra import layer_build
from infra.lambda_defaults import ARCHITECTURE, ASSET_EXCLUDES, RUNTIME

#: Named because BundlingOptions requires an image; never pulled, since the local
#: bundler either succeeds or raises (it never returns False to fall back to Docker).
UNUSED_BUNDLING_IMAGE = f"public.ecr.aws/sam/build-python{layer_build.PYTHON_VERSION}"
_CP = layer_build.PYTHON_VERSION.replace(".", "")


@jsii.implements(cdk.ILocalBundling)
class PipLayerBundling:
    """Bundles the deps layer on this machine with the pip recipe of ``infra.layer_build``."""

    def __init__(self, platform_tag: str = layer_build.LAMBDA_PLATFORM) -> None:
        self.platform_tag = platform_tag

    def try_bundle(self, output_dir: str, options: cdk.BundlingOptions) -> bool:
        # jsii passes the bundling options as one positional struct; the recipe needs none.
        args = layer_build.pip_install_args(output_dir, self.platform_tag)
        subprocess.run([sys.executable, "-m", "pip", *args], check=True)  # noqa: S603 (our own fixed recipe)
        return True


class Layers(Construct):
    """``shared``: ``layers/shared`` (``python/hitl/…``); ``deps``: ``layers/deps/requirements.txt``."""

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.shared = lambda_.LayerVersion(
            self,
            "Shared",
            code=lambda_.Code.from_asset(str(layer_build.REPO_ROOT / "layers" / "shared"), exclude=ASSET_EXCLUDES),
            description="HITL shared code: domain, models, adapters, wiring",
            # pure Python: any runtime from ours on
            compatible_runtimes=[RUNTIME, lambda_.Runtime.PYTHON_3_13],
            compatible_architectures=[ARCHITECTURE],
        )
        self.deps = lambda_.LayerVersion(
            self,
            "Deps",
            code=lambda_.Code.from_asset(
                str(layer_build.requirements_file().parent),
                bundling=cdk.BundlingOptions(
                    image=cdk.DockerImage.from_registry(UNUSED_BUNDLING_IMAGE),
                    # jsii calls try_bundle(output_dir, options) positionally, unlike its Protocol stub
                    local=PipLayerBundling(),  # type: ignore[arg-type]
                ),
            ),
            description=f"HITL third-party packages ({layer_build.LAMBDA_PLATFORM}, cp{_CP})",
            # compiled wheels (pydantic_core, …) for exactly this CPython version
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[ARCHITECTURE],
        )

    @property
    def all(self) -> list[lambda_.ILayerVersion]:
        return [self.deps, self.shared]
