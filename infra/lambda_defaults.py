"""Lambda defaults in one place: every function of the wiring is built by ``hitl_function``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import aws_cdk as cdk
import jsii
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from hitl import wiring
from infra import layer_build
from infra.nag import acknowledge

#: Must agree with ``layer_build.PYTHON_VERSION``: the deps layer's compiled wheels are per version.
RUNTIME = lambda_.Runtime.PYTHON_3_12
ARCHITECTURE = lambda_.Architecture.ARM_64
LOG_RETENTION = logs.RetentionDays.ONE_MONTH
#: Left out of the assets' fingerprints (the bundlers leave the byte code of this machine behind too).
ASSET_EXCLUDES = ["**/__pycache__", "*.pyc"]
#: Named because BundlingOptions requires an image; never pulled, since the local bundlers
#: either succeed or raise (they never return False to fall back to Docker).
UNUSED_BUNDLING_IMAGE = f"public.ecr.aws/sam/build-python{layer_build.PYTHON_VERSION}"
#: Carries ``layer_build.recipe_fingerprint()`` into the assets' hashes (the bundlers ignore it).
RECIPE_VARIABLE = "HITL_BUNDLING_RECIPE"


def construct_name(name: str) -> str:
    """``"all-events"`` → ``"AllEvents"``: wiring names as construct ids."""
    return "".join(part[:1].upper() + part[1:] for part in name.replace("_", "-").split("-"))


@jsii.implements(cdk.ILocalBundling)
class CompiledSourceBundling:
    """Bundles a folder of our code on this machine: copied without byte code, then compiled by a
    CPython 3.12 (``layer_build.bundle_source``), so that Lambda never compiles it at a cold start."""

    def __init__(self, source: Path) -> None:
        self.source = source

    def try_bundle(self, output_dir: str, options: cdk.BundlingOptions) -> bool:
        # jsii passes the bundling options as one positional struct; the recipe needs none.
        layer_build.bundle_source(self.source, output_dir)
        return True


def local_bundling(bundler: object) -> cdk.BundlingOptions:
    """Bundling by ``bundler`` (an ``ILocalBundling``) on this machine, never Docker; the asset's
    hash covers the recipe as well as the sources."""
    return cdk.BundlingOptions(
        image=cdk.DockerImage.from_registry(UNUSED_BUNDLING_IMAGE),
        environment={RECIPE_VARIABLE: layer_build.recipe_fingerprint()},
        # jsii calls try_bundle(output_dir, options) positionally, unlike its Protocol stub
        local=bundler,  # type: ignore[arg-type]
    )


def compiled_asset(folder: Path) -> lambda_.AssetCode:
    """``folder`` as a Lambda asset (function code or layer), shipped with its 3.12 byte code."""
    return lambda_.Code.from_asset(
        str(folder), exclude=ASSET_EXCLUDES, bundling=local_bundling(CompiledSourceBundling(folder))
    )


def hitl_function(
    scope: Construct,
    spec: wiring.Function,
    *,
    layers: Sequence[lambda_.ILayerVersion],
    environment: Mapping[str, str],
) -> lambda_.Function:
    """One function of the wiring, with the service-wide defaults."""
    name = construct_name(spec.name)
    log_group = logs.LogGroup(scope, f"{name}Logs", retention=LOG_RETENTION)
    function = lambda_.Function(
        scope,
        f"{name}Function",
        description=spec.description,
        runtime=RUNTIME,
        architecture=ARCHITECTURE,
        handler=spec.handler,
        code=compiled_asset(layer_build.REPO_ROOT / spec.asset),
        layers=list(layers),
        memory_size=spec.memory_mb,
        timeout=cdk.Duration.seconds(spec.timeout_s),
        reserved_concurrent_executions=spec.reserved_concurrency,
        # the whole environment comes from the wiring (``hitl.wiring.function_environment``); Powertools'
        # level (INFO) is in step with the JSON log format's application log level below
        environment=dict(environment),
        logging_format=lambda_.LoggingFormat.JSON,
        application_log_level_v2=lambda_.ApplicationLogLevel.INFO,
        system_log_level_v2=lambda_.SystemLogLevel.INFO,
        log_group=log_group,
        tracing=lambda_.Tracing.ACTIVE,
    )
    _acknowledge_defaults(function)
    return function


def _acknowledge_defaults(function: lambda_.Function) -> None:
    """cdk-nag findings every function of ours has, by design."""
    acknowledge(
        function,
        "IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]",
        "AWSLambdaBasicExecutionRole only lets the function create and write its CloudWatch log streams; "
        "CDK attaches it to every function role, and a hand-written copy would be the same policy.",
    )
    acknowledge(
        function,
        "IAM5[Resource::*]",
        "X-Ray tracing (Tracing.ACTIVE): xray:PutTraceSegments and xray:PutTelemetryRecords support no "
        "resource-level permissions, so CDK grants them on '*'; no other statement of ours uses '*'.",
    )
    acknowledge(
        function,
        "L1",
        f"Python {layer_build.PYTHON_VERSION} is a supported Lambda runtime, pinned on purpose: the deps layer's "
        "compiled wheels (pydantic_core) are built for exactly this CPython version, so the runtime and the "
        "layer are upgraded together (infra/layer_build.py, infra/lambda_defaults.py).",
    )
