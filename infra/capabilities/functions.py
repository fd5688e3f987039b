"""Every function of the wiring, with exactly the grants its ``needs`` name."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from hitl import wiring
from infra.lambda_defaults import hitl_function
from infra.nag import acknowledge

KNOWN_NEEDS = frozenset({wiring.TABLE_READ, wiring.TABLE_WRITE, wiring.BUS_PUT})


class Functions(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        specs: Iterable[wiring.Function],
        table: dynamodb.Table,
        table_index_arn: str,
        bus: events.IEventBus,
        layers: Sequence[lambda_.ILayerVersion],
        environment: Mapping[str, str],
    ) -> None:
        super().__init__(scope, construct_id)
        self.by_name: dict[str, lambda_.Function] = {}
        for spec in specs:
            unknown = spec.needs - KNOWN_NEEDS
            if unknown:
                raise ValueError(f"function {spec.name!r} needs unknown permissions {sorted(unknown)}")
            function = hitl_function(self, spec, layers=layers, environment=environment)
            _grant(function, spec.needs, table=table, table_index_arn=table_index_arn, bus=bus)
            self.by_name[spec.name] = function

    def __getitem__(self, name: str) -> lambda_.Function:
        return self.by_name[name]

    @property
    def all(self) -> list[lambda_.Function]:
        return list(self.by_name.values())


def _grant(
    function: lambda_.Function,
    needs: frozenset[str],
    *,
    table: dynamodb.Table,
    table_index_arn: str,
    bus: events.IEventBus,
) -> None:
    reads, writes = wiring.TABLE_READ in needs, wiring.TABLE_WRITE in needs
    if reads and writes:
        table.grant_read_write_data(function)
    elif reads:
        table.grant_read_data(function)
    elif writes:
        table.grant_write_data(function)
    if reads or writes:
        acknowledge(
            function,
            f"IAM5[Resource::{table_index_arn}]",
            "Only the indexes of our one table (<table arn>/index/*), which grant_*_data adds so that the "
            "function can query the GSIs of the wiring; no other table or resource is reachable.",
        )
    if wiring.BUS_PUT in needs:
        bus.grant_put_events_to(function)
