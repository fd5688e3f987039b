"""The wiring's schedules: an EventBridge rule on the default bus invokes a function every N minutes."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import aws_cdk as cdk
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from hitl import wiring
from infra.lambda_defaults import construct_name


class Expiry(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        schedules: Iterable[wiring.Schedule],
        functions: Mapping[str, lambda_.Function],
    ) -> None:
        super().__init__(scope, construct_id)
        self.rules: dict[str, events.Rule] = {}
        for schedule in schedules:
            function = functions[schedule.function]
            period = cdk.Duration.minutes(schedule.every_minutes)
            # A sweep that failed or waited is superseded by the next one: never retry or queue it
            # (the function's reserved concurrency already keeps sweeps from overlapping).
            function.configure_async_invoke(retry_attempts=0, max_event_age=period)
            self.rules[schedule.function] = events.Rule(
                self,
                f"{construct_name(schedule.function)}Schedule",
                description=f"Runs {schedule.function} every {schedule.every_minutes} min",
                schedule=events.Schedule.rate(period),
                targets=[targets.LambdaFunction(function, retry_attempts=0, max_event_age=period)],
            )
