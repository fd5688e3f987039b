"""The two Lambda layers: our shared package and the third-party dependencies, both shipped
with their CPython 3.12 byte code (``infra.layer_build``)."""

from __future__ import annotations

import aws_cdk as cdk
import jsii
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from infra import layer_build
from infra.lambda_defaults import ARCHITECTURE, RUNTIME, compiled_asset, local_bundling

_CP = layer_build.PYTHON_VERSION.replace(".", "")


@jsii.implements(cdk.ILocalBundling)
class PipLayerBundling:
    """Bundles the deps layer on this machine with the recipe of ``infra.layer_build``: pip for the
    Lambda platform, then compiled by a CPython 3.12."""

    def __init__(self, platform_tag: str = layer_build.LAMBDA_PLATFORM) -> None:
        self.platform_tag = platform_tag

    def try_bundle(self, output_dir: str, options: cdk.BundlingOptions) -> bool:
        # jsii passes the bundling options as one positional struct; the recipe needs none.
        layer_build.bundle_deps(output_dir, self.platform_tag)
        return True


class Layers(Construct):
    """``shared``: ``layers/shared`` (``python/hitl/…``); ``deps``: ``layers/deps/requirements.txt``."""

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.shared = lambda_.LayerVersion(
            self,
            "Shared",
            code=compiled_asset(layer_build.REPO_ROOT / "layers" / "shared"),
            description="HITL shared code: domain, models, adapters, wiring",
            # pure Python: any runtime from ours on (the byte code shipped is ours; another compiles the sources)
            compatible_runtimes=[RUNTIME, lambda_.Runtime.PYTHON_3_13],
            compatible_architectures=[ARCHITECTURE],
        )
        self.deps = lambda_.LayerVersion(
            self,
            "Deps",
            code=lambda_.Code.from_asset(
                str(layer_build.requirements_file().parent), bundling=local_bundling(PipLayerBundling())
            ),
            description=f"HITL third-party packages ({layer_build.LAMBDA_PLATFORM}, cp{_CP})",
            # compiled wheels (pydantic_core, …) and byte code for exactly this CPython version
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[ARCHITECTURE],
        )

    @property
    def all(self) -> list[lambda_.ILayerVersion]:
        return [self.deps, self.shared]
