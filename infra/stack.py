"""The one HITL stack: one construct per capability, everything from ``hitl.wiring``."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from constructs import Construct

from hitl import wiring
from infra.capabilities.api import Api
from infra.capabilities.data import Data
from infra.capabilities.events import Events
from infra.capabilities.expiry import Expiry
from infra.capabilities.functions import Functions
from infra.capabilities.layers import Layers
from infra.capabilities.monitoring import Monitoring

STACK_ID = "Hitl"


class HitlStack(cdk.Stack):
    """``public_base_url``: the public URL links point at (a custom domain); default: the API's URL."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str = STACK_ID,
        *,
        public_base_url: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        data = Data(self, "Data")
        events = Events(self, "Events")
        layers = Layers(self, "Layers")
        # The API exists before the functions, which get its URL; its routes come after them.
        api = Api(self, "Api")
        functions = Functions(
            self,
            "Functions",
            specs=wiring.FUNCTIONS,
            table=data.table,
            table_index_arn=data.index_arn_pattern,
            bus=events.bus,
            layers=layers.all,
            environment=wiring.function_environment(
                data.table.table_name,
                events.bus.event_bus_name,
                _checked_url(public_base_url) if public_base_url else api.endpoint,
            ),
        )
        api.add_routes(wiring.ROUTES, functions.by_name)
        # Test-only subscriptions (a rule collecting every event, …) never reach a deployed stack.
        events.subscribe(wiring.deployed_subscriptions(), functions.by_name)
        Expiry(self, "Expiry", schedules=wiring.SCHEDULES, functions=functions.by_name)
        Monitoring(self, "Monitoring", functions=functions.all, dead_letter_queues=events.dead_letter_queues)

        cdk.CfnOutput(self, "ApiUrl", value=api.endpoint, description="The HTTP API's URL")
        cdk.CfnOutput(self, "TableName", value=data.table.table_name, description="The DynamoDB table")
        cdk.CfnOutput(self, "EventBusName", value=events.bus.event_bus_name, description="The event bus")
        self.data, self.events, self.layers, self.api, self.functions = data, events, layers, api, functions


def _checked_url(url: str) -> str:
    if not url.startswith("https://"):
        raise ValueError(f"publicBaseUrl must be an https:// URL, not {url!r}")
    return url.rstrip("/")
