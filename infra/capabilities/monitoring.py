"""Alarms: a message in any dead-letter queue, an error in any function."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from constructs import Construct

PERIOD = cdk.Duration.minutes(5)


class Monitoring(Construct):
    """No notification target yet: an operator subscribes an SNS topic or a chat integration."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        functions: Iterable[lambda_.Function],
        dead_letter_queues: Mapping[str, sqs.IQueue],
    ) -> None:
        super().__init__(scope, construct_id)
        self.alarms: list[cloudwatch.Alarm] = []
        for function in functions:
            self.alarms.append(
                cloudwatch.Alarm(
                    self,
                    f"{function.node.id}Errors",
                    alarm_description=f"{function.node.path}: the function raised errors",
                    metric=function.metric_errors(period=PERIOD, statistic=cloudwatch.Stats.SUM),
                    comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                    threshold=0,
                    evaluation_periods=1,
                    treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                )
            )
        for name, queue in dead_letter_queues.items():
            self.alarms.append(
                cloudwatch.Alarm(
                    self,
                    f"{name}Messages",
                    alarm_description=f"{queue.node.path}: messages were dead-lettered",
                    metric=queue.metric_approximate_number_of_messages_visible(
                        period=PERIOD, statistic=cloudwatch.Stats.MAXIMUM
                    ),
                    comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                    threshold=0,
                    evaluation_periods=1,
                    treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                )
            )
