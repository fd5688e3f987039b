"""The HTTP API (payload v2): a throttled, access-logged ``$default`` stage and the wiring's routes."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping

import jsii
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_apigatewayv2_integrations as integrations
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from hitl import wiring
from infra.lambda_defaults import LOG_RETENTION, construct_name
from infra.nag import acknowledge

#: Stage-wide default route throttling (requests per second, and burst).  A long-poll is one
#: request per up-to-25 s, so this is far above what honest agents need.
THROTTLE_RATE_LIMIT = 100
THROTTLE_BURST_LIMIT = 200

#: One JSON object per request, HTTP API ($context) variables only.  Never the raw path
#: (``$context.path``): approvers' links, sign-in links and invitations carry their token in it;
#: the route key (``GET /a/{token}/{choice}``) names the route without it.
ACCESS_LOG_FORMAT = json.dumps(
    {
        "requestId": "$context.requestId",
        "requestTime": "$context.requestTime",
        "ip": "$context.identity.sourceIp",
        "userAgent": "$context.identity.userAgent",
        "method": "$context.httpMethod",
        "routeKey": "$context.routeKey",
        "status": "$context.status",
        "protocol": "$context.protocol",
        "responseLength": "$context.responseLength",
        "responseLatency": "$context.responseLatency",
        "integrationLatency": "$context.integrationLatency",
        "integrationError": "$context.integrationErrorMessage",
        "error": "$context.error.message",
    },
    separators=(",", ":"),
)


class Api(Construct):
    """Created before the functions, so that they can be given its URL without a dependency cycle:
    functions depend on the API resource, routes and integrations on both."""

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.http_api = apigwv2.HttpApi(
            self,
            "HttpApi",
            description="HITL agent API",
            create_default_stage=False,
        )
        self.access_logs = logs.LogGroup(self, "AccessLogs", retention=LOG_RETENTION)
        self.stage = apigwv2.HttpStage(
            self,
            "DefaultStage",
            http_api=self.http_api,
            stage_name="$default",
            auto_deploy=True,
            throttle=apigwv2.ThrottleSettings(rate_limit=THROTTLE_RATE_LIMIT, burst_limit=THROTTLE_BURST_LIMIT),
            access_log_settings=_AccessLogSettings(self.access_logs),
        )

    @property
    def endpoint(self) -> str:
        """``https://{api id}.execute-api.{region}.{url suffix}``, no trailing slash."""
        return self.http_api.api_endpoint

    def add_routes(self, routes: Iterable[wiring.Route], functions: Mapping[str, lambda_.IFunction]) -> None:
        """One ``HttpLambdaIntegration`` per function (it adds the invoke permissions)."""
        integrations_by_function: dict[str, integrations.HttpLambdaIntegration] = {}
        for route in routes:
            integration = integrations_by_function.get(route.function)
            if integration is None:
                integration = integrations.HttpLambdaIntegration(
                    f"{construct_name(route.function)}Integration", functions[route.function]
                )
                integrations_by_function[route.function] = integration
            self._add_route(route, integration)

    def _add_route(self, route: wiring.Route, integration: apigwv2.HttpRouteIntegration) -> None:
        if route.path == wiring.DEFAULT_ROUTE:
            if route.method != "ANY":
                raise ValueError(f"the {wiring.DEFAULT_ROUTE} route takes every method, not {route.method}")
            route_key = apigwv2.HttpRouteKey.DEFAULT
        else:
            route_key = apigwv2.HttpRouteKey.with_(route.path, apigwv2.HttpMethod[route.method])
        http_route = apigwv2.HttpRoute(
            self,
            _route_id(route),
            http_api=self.http_api,
            route_key=route_key,
            integration=integration,
        )
        acknowledge(
            http_route,
            "APIG4",
            "Authorization is done in the function, per route: agents send HITL API keys (Authorization: "
            "Bearer hitl_…, checksummed, looked up by hash, 401 otherwise), approvers use single-use emailed "
            "tokens or dashboard sessions, and public routes (OpenAPI document, $default 404s) need none.",
        )


def _route_id(route: wiring.Route) -> str:
    """``GET /api/pause/{watchId}`` → ``RouteGetApiPauseWatchId``."""
    words = re.findall(r"[A-Za-z0-9]+", f"{route.method.lower()} {route.path}")
    return "Route" + "".join(word[:1].upper() + word[1:] for word in words)


@jsii.implements(apigwv2.IAccessLogSettings)
class _AccessLogSettings:
    """The stage's access log: JSON lines (``ACCESS_LOG_FORMAT``) into a log group."""

    def __init__(self, log_group: logs.ILogGroup) -> None:
        self._destination = apigwv2.LogGroupLogDestination(log_group)

    @property
    def destination(self) -> apigwv2.IAccessLogDestination:
        return self._destination

    @property
    def format(self) -> apigw.AccessLogFormat:
        return apigw.AccessLogFormat.custom(ACCESS_LOG_FORMAT)
