"""Whole-template checks (cdk-nag, cfn-lint), the public URL setting and the deps layer's bundling."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import aws_sqs as sqs

from hitl import wiring
from infra import layer_build
from infra.app import build_app
from infra.capabilities import layers

CFN_LINT = Path(sys.executable).parent / "cfn-lint"
SKIP_BUNDLING: dict[str, Any] = {"aws:cdk:bundling-stacks": []}


def test_cdk_nag_passes_with_every_acknowledgement_justified(tmp_path):
    app, stack = build_app(context=SKIP_BUNDLING, outdir=str(tmp_path), nag=True)

    app.synth()  # raises on any unacknowledged AwsSolutions finding

    report = json.loads((tmp_path / "validation-report.json").read_text())
    (nag,) = report["pluginReports"]
    assert nag["conclusion"] == "success"
    assert nag["violations"] == []
    assert all(len(finding["reason"]) >= 40 for finding in nag["suppressedViolations"])
    # a new kind of acknowledgement is a decision: add it here, with its reason in infra/
    assert {finding["ruleName"] for finding in nag["suppressedViolations"]} == {
        "AwsSolutions-APIG4",
        "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]",
        "AwsSolutions-IAM5[Resource::*]",
        f"AwsSolutions-IAM5[Resource::{stack.data.index_arn_pattern}]",
        "AwsSolutions-L1",
        "AwsSolutions-SQS3",
    }


def test_an_unacknowledged_finding_fails_synth(tmp_path):
    app, stack = build_app(context=SKIP_BUNDLING, outdir=str(tmp_path), nag=True)
    sqs.Queue(stack, "QueueWithoutTls")  # AwsSolutions-SQS3 and -SQS4

    with pytest.raises(RuntimeError, match=r"ValidationFailed(.|\n)*AwsSolutions-SQS4"):
        app.synth()


def test_cfn_lint_finds_no_error_or_warning(synthesized):
    template = synthesized.outdir / f"{synthesized.stack.artifact_id}.template.json"

    # W3005: CDK's explicit DependsOn on the function roles' policies, redundant but harmless
    result = subprocess.run(
        [str(CFN_LINT), "--format", "json", "--ignore-checks", "W3005", "--", str(template)],
        capture_output=True,
        text=True,
        check=False,
    )

    findings = json.loads(result.stdout or "[]")
    assert findings == [], json.dumps(findings, indent=1)


def test_public_base_url_context_replaces_the_api_url(synthesizer, tmp_path):
    custom = synthesizer(tmp_path, context={"publicBaseUrl": "https://approvals.example.com/"})

    for spec in wiring.FUNCTIONS:
        variables = custom.props(custom.function_id(spec.name))["Environment"]["Variables"]
        assert variables[wiring.ENV_PUBLIC_BASE_URL] == "https://approvals.example.com"


def test_public_base_url_must_be_https(tmp_path):
    with pytest.raises(ValueError, match="https"):
        build_app(context={**SKIP_BUNDLING, "publicBaseUrl": "http://approvals.example.com"}, nag=False)


def test_the_deps_layer_recipe_targets_lambda(tmp_path):
    args = layer_build.pip_install_args(tmp_path, layer_build.LAMBDA_PLATFORM)

    assert args[0] == "install"
    assert args[args.index("--requirement") + 1] == str(layer_build.requirements_file())
    assert args[args.index("--target") + 1] == str(tmp_path / "python")
    assert args[args.index("--platform") + 1] == "manylinux2014_aarch64"
    assert args[args.index("--python-version") + 1] == layer_build.PYTHON_VERSION
    assert args[args.index("--implementation") + 1] == "cp"
    assert "--only-binary=:all:" in args


def test_synth_bundles_the_deps_layer_locally_with_the_recipe_never_docker(monkeypatch, tmp_path):
    # Given pip replaced by a fake that records its command and writes a package
    commands: list[list[str]] = []

    def fake_run(command, check):
        commands.append(command)
        target = Path(command[command.index("--target") + 1])
        (target / "fakepkg").mkdir(parents=True)
        (target / "fakepkg" / "__init__.py").write_text("")
        return subprocess.CompletedProcess(command, 0)

    monkeypatch.setattr(layers.subprocess, "run", fake_run)
    # When the app is synthesized with bundling on (no bundling-stacks context)
    app, _ = build_app(outdir=str(tmp_path / "cdk.out"), nag=False)
    assembly = app.synth()

    # Then CDK ran our local bundler once, with the Lambda recipe, and no Docker image is involved
    (command,) = commands
    assert command[:3] == [sys.executable, "-m", "pip"]
    output_dir = Path(command[command.index("--target") + 1]).parent
    assert command[3:] == layer_build.pip_install_args(output_dir, layer_build.LAMBDA_PLATFORM)
    manifest = json.loads(Path(assembly.directory, "Hitl.assets.json").read_text())
    assert not manifest.get("dockerImages")
    (deps,) = (asset for asset in manifest["files"].values() if asset["displayName"] == "Layers/Deps/Code")
    assert (Path(assembly.directory) / deps["source"]["path"] / "python" / "fakepkg" / "__init__.py").is_file()


def test_the_stack_is_named_hitl(synthesized):
    assert synthesized.stack.stack_name == "Hitl"
    assert synthesized.stack.artifact_id == "Hitl"
