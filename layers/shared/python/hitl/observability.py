"""Logger, Tracer and Metrics, created once for every function."""

from aws_lambda_powertools import Logger, Metrics, Tracer

from hitl import wiring

SERVICE = wiring.SERVICE_NAME
NAMESPACE = wiring.METRICS_NAMESPACE

logger = Logger(service=SERVICE)
tracer = Tracer(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
