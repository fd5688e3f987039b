"""Logger, Tracer and Metrics, created once for every function."""

from aws_lambda_powertools import Logger, Metrics, Tracer

SERVICE = "hitl"
NAMESPACE = "HITL"

logger = Logger(service=SERVICE)
tracer = Tracer(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
