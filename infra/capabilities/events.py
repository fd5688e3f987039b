"""The service's EventBridge bus and its subscriptions: rule → SQS queue → function, or a work
queue (no rule) that functions send to → function.  A subscription's rule is on the service's
bus, or on the account's default bus for what AWS services report (SES's bounces and
complaints, narrowed to the mail sent with the stack's own configuration set)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import aws_cdk as cdk
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from hitl import wiring
from infra.capabilities.mail import Mail
from infra.lambda_defaults import construct_name
from infra.nag import acknowledge

#: SQS asks for a visibility timeout of at least 6x the consumer's timeout (``wiring.visibility_timeout_s``).
VISIBILITY_TIMEOUT_FACTOR = wiring.VISIBILITY_TIMEOUT_FACTOR
DEAD_LETTER_RETENTION = cdk.Duration.days(14)
#: How long and how often EventBridge retries delivering to a queue before its target DLQ.
TARGET_MAX_EVENT_AGE = cdk.Duration.hours(24)
TARGET_RETRY_ATTEMPTS = 185


@dataclass(frozen=True)
class SubscriptionResources:
    subscription: wiring.Subscription
    queue: sqs.Queue
    dead_letter_queue: sqs.Queue
    #: ``None`` for a work queue (``from_bus=False``): functions send to it, no rule feeds it
    rule: events.Rule | None = None
    target_dead_letter_queue: sqs.Queue | None = None


def _queue(
    scope: Construct,
    construct_id: str,
    *,
    retention_period: cdk.Duration | None = None,
    visibility_timeout: cdk.Duration | None = None,
    dead_letter_queue: sqs.DeadLetterQueue | None = None,
) -> sqs.Queue:
    return sqs.Queue(
        scope,
        construct_id,
        # SQS-managed keys: EventBridge cannot send into a queue under the AWS-managed KMS key
        encryption=sqs.QueueEncryption.SQS_MANAGED,
        enforce_ssl=True,
        retention_period=retention_period,
        visibility_timeout=visibility_timeout,
        dead_letter_queue=dead_letter_queue,
    )


class Events(Construct):
    """The bus; ``subscribe`` adds each subscription's queues (and rule, when the bus feeds it),
    ``consume`` — once the functions exist — the event source mappings that feed its function.

    Queues come before functions so that a function can be given the URL of a work queue it sends
    to; the mappings come after, and neither the queues nor the rules depend on a function."""

    def __init__(self, scope: Construct, construct_id: str, *, mail: Mail | None = None) -> None:
        super().__init__(scope, construct_id)
        #: the stack's mail (its configuration set narrows the rules of SES's events); None: no email
        self.mail = mail
        self.bus = events.EventBus(self, "Bus", description="HITL domain events (source 'hitl')")
        self.subscriptions: list[SubscriptionResources] = []
        self._default_bus: events.IEventBus | None = None

    @property
    def default_bus(self) -> events.IEventBus:
        """The account's default bus (not a resource of the stack), where AWS services report."""
        if self._default_bus is None:
            self._default_bus = events.EventBus.from_event_bus_name(self, "DefaultBus", wiring.DEFAULT_BUS_NAME)
        return self._default_bus

    def subscribe(
        self, subscriptions: Iterable[wiring.Subscription], *, ses_configuration_set: str | None = None
    ) -> list[SubscriptionResources]:
        """``ses_configuration_set`` narrows the rules of SES's events to the mail sent with it; by
        default, the configuration set of the ``Mail`` this construct was given (if any)."""
        configuration_set = ses_configuration_set or (
            self.mail.configuration_set.configuration_set_name if self.mail is not None else None
        )
        created = [self._subscribe(subscription, configuration_set) for subscription in subscriptions]
        self.subscriptions.extend(created)
        return created

    def consume(self, functions: Mapping[str, lambda_.Function]) -> None:
        """Each subscription's function reads its queue, reporting the messages it failed."""
        for resources in self.subscriptions:
            subscription = resources.subscription
            if subscription.function is None:
                continue
            functions[subscription.function].add_event_source(
                sources.SqsEventSource(
                    resources.queue,
                    batch_size=subscription.batch_size,
                    report_batch_item_failures=True,
                )
            )

    @property
    def queues(self) -> dict[str, sqs.Queue]:
        """Every subscription's queue, by the subscription's name (``sends_to`` names them)."""
        return {resources.subscription.name: resources.queue for resources in self.subscriptions}

    @property
    def dead_letter_queues(self) -> dict[str, sqs.Queue]:
        """Every dead-letter queue, by a construct-id-friendly name."""
        queues: dict[str, sqs.Queue] = {}
        for resources in self.subscriptions:
            name = construct_name(resources.subscription.name)
            queues[f"{name}DeadLetterQueue"] = resources.dead_letter_queue
            if resources.target_dead_letter_queue is not None:
                queues[f"{name}TargetDeadLetterQueue"] = resources.target_dead_letter_queue
        return queues

    def _subscribe(self, subscription: wiring.Subscription, configuration_set: str | None) -> SubscriptionResources:
        if subscription.test_only:
            raise ValueError(f"test-only subscription {subscription.name!r} must not be deployed")
        visibility = cdk.Duration.seconds(wiring.visibility_timeout_s(subscription))
        scope = Construct(self, construct_name(subscription.name))

        dead_letters = _queue(scope, "DeadLetterQueue", retention_period=DEAD_LETTER_RETENTION)
        queue = _queue(
            scope,
            "Queue",
            visibility_timeout=visibility,
            dead_letter_queue=sqs.DeadLetterQueue(max_receive_count=subscription.max_receive_count, queue=dead_letters),
        )
        if not subscription.from_bus:
            if subscription.detail_types:
                raise ValueError(f"work queue {subscription.name!r} is not fed by the bus: it takes no detail types")
            return SubscriptionResources(subscription=subscription, queue=queue, dead_letter_queue=dead_letters)

        target_dead_letters = _queue(scope, "TargetDeadLetterQueue", retention_period=DEAD_LETTER_RETENTION)
        acknowledge(
            target_dead_letters,
            "SQS3",
            "This queue is itself a dead-letter queue: the EventBridge rule target's DeadLetterConfig, "
            "which cdk-nag does not recognise as one (it only knows SQS redrive); it has an alarm.",
        )
        pattern = subscription.event_pattern(configuration_set)
        rule = events.Rule(
            scope,
            "Rule",
            event_bus=self.bus if subscription.bus == "service" else self.default_bus,
            description=f"HITL subscription {subscription.name!r} → its queue",
            event_pattern=events.EventPattern(
                source=pattern["source"],
                detail_type=pattern.get("detail-type"),
                detail=pattern.get("detail"),
            ),
            targets=[
                targets.SqsQueue(
                    queue,
                    dead_letter_queue=target_dead_letters,
                    retry_attempts=TARGET_RETRY_ATTEMPTS,
                    max_event_age=TARGET_MAX_EVENT_AGE,
                )
            ],
        )
        return SubscriptionResources(
            subscription=subscription,
            queue=queue,
            dead_letter_queue=dead_letters,
            rule=rule,
            target_dead_letter_queue=target_dead_letters,
        )
