"""Whole-template checks (cdk-nag, cfn-lint), the public URL setting and the bundling of the assets
(the deps layer with pip, every asset compiled by a CPython 3.12)."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import aws_sqs as sqs

from hitl import wiring
from infra import layer_build
from infra.app import build_app
from infra.lambda_defaults import construct_name

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


def test_signup_context_opens_sign_up_in_every_function(synthesizer, tmp_path):
    custom = synthesizer(tmp_path, context={"signup": "open"})

    for spec in wiring.FUNCTIONS:
        assert custom.environment(spec.name)[wiring.ENV_SIGNUP] == "open", spec.name


def test_signup_context_must_be_open_or_closed(tmp_path):
    with pytest.raises(ValueError, match="open, closed"):
        build_app(context={**SKIP_BUNDLING, "signup": "yes"}, nag=False)


def test_the_deps_layer_recipe_targets_lambda(tmp_path):
    args = layer_build.pip_install_args(tmp_path, layer_build.LAMBDA_PLATFORM)

    assert args[0] == "install"
    assert args[args.index("--requirement") + 1] == str(layer_build.requirements_file())
    assert args[args.index("--target") + 1] == str(tmp_path / "python")
    assert args[args.index("--platform") + 1] == "manylinux2014_aarch64"
    assert args[args.index("--python-version") + 1] == layer_build.PYTHON_VERSION
    assert args[args.index("--implementation") + 1] == "cp"
    assert "--only-binary=:all:" in args
    assert "--no-compile" in args  # pip's interpreter is not Lambda's: compile_args compiles afterwards


def test_the_byte_code_recipe_is_valid_whatever_the_zip_does_to_modification_times(tmp_path):
    assert layer_build.compile_args(tmp_path) == [
        "-m",
        "compileall",
        "-q",
        "--invalidation-mode",
        "unchecked-hash",
        str(tmp_path),
    ]
    assert layer_build.CACHE_TAG.split("-") == ["cpython", layer_build.PYTHON_VERSION.replace(".", "")]


def _fake_python(folder: Path, cache_tag: str) -> str:
    script = folder / f"python-{cache_tag}"
    script.write_text(f"#!/bin/sh\necho {cache_tag}\n")
    script.chmod(0o755)
    return str(script)


def test_only_a_cpython_of_lambdas_version_compiles(monkeypatch, tmp_path):
    # Given a python3.12 that is really another version (a pyenv shim, say), then a real one
    other = _fake_python(tmp_path, "cpython-311")
    right = _fake_python(tmp_path, layer_build.CACHE_TAG)
    monkeypatch.setattr(layer_build, "candidates", lambda: iter([str(tmp_path / "missing"), other, right]))
    # Then the first one that reports Lambda's byte code tag is chosen
    assert layer_build.find_python() == right

    # And with none of them, compiling refuses to start, saying what to install
    monkeypatch.setattr(layer_build, "candidates", lambda: iter([other]))
    assert layer_build.find_python() is None
    with pytest.raises(layer_build.NoPythonError, match=rf"No CPython {layer_build.PYTHON_VERSION} found"):
        layer_build.require_python()


@dataclass
class FakeBuild:
    """pip and the compiler replaced: records each command; pip writes a package, compileall
    writes a marker naming the interpreter, so that the staged assets show what ran on them."""

    python: str
    commands: list[list[str]] = field(default_factory=list)

    def run(self, command: list[str], check: bool) -> subprocess.CompletedProcess[str]:
        self.commands.append(command)
        if command[1:3] == ["-m", "pip"]:
            target = Path(command[command.index("--target") + 1])
            (target / "fakepkg").mkdir(parents=True)
            (target / "fakepkg" / "__init__.py").write_text("")
        else:
            Path(command[-1], "compiled-by").write_text(command[0])
        return subprocess.CompletedProcess(command, 0)

    def compiled(self) -> list[Path]:
        return [Path(c[-1]) for c in self.commands if c[0] == self.python]


def test_synth_bundles_every_asset_locally_with_3_12_byte_code_never_docker(monkeypatch, tmp_path):
    # Given pip and compileall replaced by fakes, and a CPython 3.12 "found"
    fake = FakeBuild(python="/opt/fake/bin/python3.12")
    monkeypatch.setattr(layer_build.subprocess, "run", fake.run)
    monkeypatch.setattr(layer_build, "find_python", lambda: fake.python)
    # When the app is synthesized with bundling on (no bundling-stacks context)
    app, _ = build_app(outdir=str(tmp_path / "cdk.out"), nag=False)
    assembly = app.synth()

    # Then pip ran once, with the Lambda recipe, and every asset was compiled once by that 3.12
    (pip,) = (c for c in fake.commands if c[1:3] == ["-m", "pip"])
    assert pip[:3] == [sys.executable, "-m", "pip"]
    deps_dir = Path(pip[pip.index("--target") + 1]).parent
    assert pip[3:] == layer_build.pip_install_args(deps_dir, layer_build.LAMBDA_PLATFORM)
    assert fake.commands.index(pip) < fake.commands.index([fake.python, *layer_build.compile_args(deps_dir)])
    assert all(c == [fake.python, *layer_build.compile_args(c[-1])] for c in fake.commands if c is not pip)
    assert len(fake.compiled()) == len(set(fake.compiled())) == 2 + len({spec.asset for spec in wiring.FUNCTIONS})

    manifest = json.loads(Path(assembly.directory, "Hitl.assets.json").read_text())
    assert not manifest.get("dockerImages")
    staged = {
        asset["displayName"]: Path(assembly.directory) / asset["source"]["path"] for asset in manifest["files"].values()
    }
    code = {
        "Layers/Deps/Code": "python/fakepkg/__init__.py",
        "Layers/Shared/Code": "python/hitl/settings.py",
        **{
            f"Functions/{construct_name(spec.name)}Function/Code": spec.handler.rsplit(".", 1)[0] + ".py"
            for spec in wiring.FUNCTIONS
        },
    }
    for name, module in code.items():
        assert (staged[name] / module).is_file(), name
        assert (staged[name] / "compiled-by").read_text() == fake.python, name
        # our sources are copied without the byte code this machine's interpreter left beside them
        assert not [p for p in staged[name].rglob("*") if p.name == "__pycache__" or p.suffix == ".pyc"], name


def _code_asset_hashes(outdir: Path) -> dict[str, str]:
    app, _ = build_app(context=SKIP_BUNDLING, outdir=str(outdir), nag=False)
    manifest = json.loads(Path(app.synth().directory, "Hitl.assets.json").read_text())
    return {asset["displayName"]: key for key, asset in manifest["files"].items() if "/Code" in asset["displayName"]}


def test_a_new_recipe_deploys_every_asset_again_even_with_the_same_sources(monkeypatch, tmp_path):
    # Given the same sources synthesized twice with one recipe, then with another
    monkeypatch.setattr(layer_build, "recipe_fingerprint", lambda: "recipe-a")
    first, again = _code_asset_hashes(tmp_path / "a1"), _code_asset_hashes(tmp_path / "a2")
    monkeypatch.setattr(layer_build, "recipe_fingerprint", lambda: "recipe-b")
    changed = _code_asset_hashes(tmp_path / "b")

    # Then the hashes are stable, and every layer and function asset has a new one with the new recipe
    assert first == again
    assert {"Layers/Deps/Code", "Layers/Shared/Code"} < set(first) == set(changed)
    assert all(first[name] != changed[name] for name in first)


def test_synth_without_a_cpython_3_12_fails_before_shipping_anything(monkeypatch, tmp_path):
    # Given no CPython 3.12 on the machine (and nothing may run)
    def no_command(command: list[str], check: bool) -> None:
        raise AssertionError(f"nothing should run without a 3.12: {command}")

    monkeypatch.setattr(layer_build, "find_python", lambda: None)
    monkeypatch.setattr(layer_build.subprocess, "run", no_command)

    # When the app is synthesized with bundling on (CDK bundles as it builds the stack)
    # Then it fails, saying what is missing
    with pytest.raises(RuntimeError, match=rf"No CPython {layer_build.PYTHON_VERSION} found to compile"):
        build_app(outdir=str(tmp_path / "cdk.out"), nag=False)[0].synth()


def test_the_stack_is_named_hitl(synthesized):
    assert synthesized.stack.stack_name == "Hitl"
    assert synthesized.stack.artifact_id == "Hitl"
