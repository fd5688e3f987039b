"""The yardstick for cold imports: a minimal powertools API handler with the same utilities as
ours (Logger, Tracer, Metrics, ``APIGatewayHttpResolver(enable_validation=True)``, a route
with a pydantic model).  ``bench.cold_import`` imports it in a fresh process; never deployed."""

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, Field

logger = Logger()
tracer = Tracer()
metrics = Metrics(namespace="Bench")
app = APIGatewayHttpResolver(enable_validation=True)


class Item(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    details: dict[str, Any] = Field(default_factory=dict)


@app.post("/items")
def create_item(item: Item) -> dict[str, Any]:
    return item.model_dump()


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
