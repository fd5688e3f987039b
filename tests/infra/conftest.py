"""CDK assertion fixtures: one synthesized template per test module, bundling skipped."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App, CfnElement
from aws_cdk.assertions import Template
from constructs import IConstruct

from hitl import wiring
from infra.app import build_app
from infra.capabilities.events import SubscriptionResources
from infra.stack import HitlStack

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

#: No pip, no compiler, no Docker in tests: no asset is bundled (each is its source folder; the deps
#: layer's is the requirements folder).  test_checks runs the bundling once, with fakes.
SKIP_BUNDLING: dict[str, Any] = {"aws:cdk:bundling-stacks": []}


@dataclass
class Synthesized:
    """The synthesized stack, with lookups by what the wiring calls things."""

    app: App
    stack: HitlStack
    template: Template
    outdir: Path

    def __post_init__(self) -> None:
        self.json: dict[str, Any] = dict(self.template.to_json())
        self.resources: dict[str, dict[str, Any]] = self.json["Resources"]

    def of_type(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {key: res for key, res in self.resources.items() if res["Type"] == resource_type}

    def props(self, logical_id: str) -> dict[str, Any]:
        properties: dict[str, Any] = self.resources[logical_id].get("Properties", {})
        return properties

    def one(self, resource_type: str) -> tuple[str, dict[str, Any]]:
        found = self.of_type(resource_type)
        assert len(found) == 1, f"expected one {resource_type}, found {sorted(found)}"
        logical_id, resource = next(iter(found.items()))
        return logical_id, resource.get("Properties", {})

    @property
    def table_id(self) -> str:
        return self.one("AWS::DynamoDB::Table")[0]

    @property
    def bus_id(self) -> str:
        return self.one("AWS::Events::EventBus")[0]

    @property
    def api_id(self) -> str:
        return self.one("AWS::ApiGatewayV2::Api")[0]

    def logical_id(self, construct: IConstruct) -> str:
        """The logical id of an L2 construct's resource (its default child)."""
        resource = construct.node.default_child
        assert isinstance(resource, CfnElement), construct.node.path
        return self.stack.get_logical_id(resource)

    def subscription(self, name: str) -> SubscriptionResources:
        (resources,) = (r for r in self.stack.events.subscriptions if r.subscription.name == name)
        return resources

    def queue_id(self, subscription: str) -> str:
        """The logical id of the queue of the wiring's subscription ``subscription``."""
        return self.logical_id(self.subscription(subscription).queue)

    def rules_on_bus(self) -> dict[str, dict[str, Any]]:
        """The rules on our own bus (the schedules are on the default bus), by logical id."""
        return {
            key: rule["Properties"]
            for key, rule in self.of_type("AWS::Events::Rule").items()
            if rule["Properties"].get("EventBusName") == {"Ref": self.bus_id}
        }

    def rules_on_default_bus(self) -> dict[str, dict[str, Any]]:
        """The subscriptions' rules on the account's default bus (what AWS services report), by
        logical id; not the schedules (also on the default bus, with no event pattern)."""
        return {
            key: rule["Properties"]
            for key, rule in self.of_type("AWS::Events::Rule").items()
            if rule["Properties"].get("EventBusName") == "default" and "EventPattern" in rule["Properties"]
        }

    def subscription_rules(self) -> dict[str, dict[str, Any]]:
        """Every subscription's rule, on either bus, by logical id."""
        return {**self.rules_on_bus(), **self.rules_on_default_bus()}

    def environment(self, function_name: str) -> dict[str, Any]:
        variables: dict[str, Any] = self.props(self.function_id(function_name))["Environment"]["Variables"]
        return variables

    def function_id(self, name: str) -> str:
        """The logical id of the wiring's function ``name``, found by its (unique) handler."""
        spec = wiring.function(name)
        matches = [
            key
            for key, res in self.of_type("AWS::Lambda::Function").items()
            if res["Properties"]["Handler"] == spec.handler and res["Properties"].get("Description") == spec.description
        ]
        assert len(matches) == 1, f"function {name}: {matches}"
        return matches[0]

    def role_statements(self, function_name: str) -> list[dict[str, Any]]:
        """Every statement of the policies attached to the function's role."""
        role_arn = self.props(self.function_id(function_name))["Role"]
        role_id = role_arn["Fn::GetAtt"][0]
        statements: list[dict[str, Any]] = []
        for policy in self.of_type("AWS::IAM::Policy").values():
            if {"Ref": role_id} in policy["Properties"]["Roles"]:
                statements.extend(policy["Properties"]["PolicyDocument"]["Statement"])
        return statements

    def assets_manifest(self) -> dict[str, Any]:
        manifest: dict[str, Any] = json.loads((self.outdir / f"{self.stack.artifact_id}.assets.json").read_text())
        return manifest


def synthesize(outdir: Path, *, nag: bool = False, context: dict[str, Any] | None = None) -> Synthesized:
    app, stack = build_app(context={**SKIP_BUNDLING, **(context or {})}, outdir=str(outdir), nag=nag)
    template = Template.from_stack(stack)
    return Synthesized(app=app, stack=stack, template=template, outdir=outdir)


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """The stack as deployed, from the real wiring: synthesized once per session (modules that
    change the wiring override this fixture with their own)."""
    return synthesize(tmp_path_factory.mktemp("cdk.out"))


@pytest.fixture(scope="session")
def synthesizer() -> Callable[..., Synthesized]:
    """``synthesize`` itself, for modules that build their own variant of the stack."""
    return synthesize


@pytest.fixture(scope="session")
def template(synthesized: Synthesized) -> Template:
    return synthesized.template


@dataclass(frozen=True)
class SubscriptionWiring:
    consumer: wiring.Function
    producer: wiring.Function
    deployed: wiring.Subscription
    work_queue: wiring.Subscription
    test_only: wiring.Subscription


#: Stand-ins added to the wiring by ``with_subscriptions`` (named unlike anything of the real
#: wiring): a deployed subscription fed by the bus, a work queue (``from_bus=False``) that one
#: function sends to and another consumes, and a test-only subscription that must never be deployed.
CONSUMER = wiring.Function(
    name="auditor",
    asset=wiring.API.asset,
    handler="auditor_handler.lambda_handler",
    description="Test consumer of the audit queues",
    timeout_s=20,
    needs=wiring.table_access(wiring.GET_ITEM, wiring.QUERY),
)
PRODUCER = wiring.Function(
    name="fanner",
    asset=wiring.API.asset,
    handler="fanner_handler.lambda_handler",
    description="Test producer of the audit work queue",
    needs=frozenset({wiring.sends_to("audit-work")}) | wiring.table_access(wiring.GET_ITEM),
)
DEPLOYED = wiring.Subscription(
    name="audit-trail",
    detail_types=("pause.created", "pause.approved"),
    function=CONSUMER.name,
    batch_size=5,
    max_receive_count=7,
)
WORK_QUEUE = wiring.Subscription(
    name="audit-work",
    detail_types=(),
    function=CONSUMER.name,
    batch_size=3,
    max_receive_count=8,
    from_bus=False,
)
TEST_ONLY = wiring.Subscription(name="collect-everything", detail_types=(), function=None, test_only=True)


@pytest.fixture(scope="module")
def with_subscriptions() -> Iterator[SubscriptionWiring]:
    """The wiring plus the stand-ins above (and its own test-only ``all-events``)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(wiring, "FUNCTIONS", (*wiring.FUNCTIONS, CONSUMER, PRODUCER))
        patch.setattr(wiring, "SUBSCRIPTIONS", (*wiring.SUBSCRIPTIONS, DEPLOYED, WORK_QUEUE, TEST_ONLY))
        yield SubscriptionWiring(
            consumer=CONSUMER, producer=PRODUCER, deployed=DEPLOYED, work_queue=WORK_QUEUE, test_only=TEST_ONLY
        )
