"""The dashboard function's resolver: sign-in, the members' and owners' pages, and the approve
route.  Every route goes through ``guard.page`` (its access level is in ``guard.ACCESS``)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response

from hitl.http.app import handles
from hitl.http.dashboard import account, audit, keys, pauses, signin, slack, team, team_settings, webhooks
from hitl.http.dashboard.views import refused_page
from hitl.observability import logger

ROUTERS = (
    signin.router,
    pauses.router,
    account.router,
    audit.router,
    keys.router,
    webhooks.router,
    team_settings.router,
    slack.router,
    team.router,
)


def build() -> APIGatewayHttpResolver:
    app = APIGatewayHttpResolver()
    for router in ROUTERS:
        app.include_router(router)

    @handles(app, Exception)
    def _unexpected(error: Exception) -> Response[Any]:
        logger.exception("dashboard page failed")
        return refused_page(500, "Something went wrong on our side; it has been logged. Nothing was changed.")

    @app.not_found
    def _no_page(_: Exception) -> Response[Any]:
        return refused_page(404, "There is no such page.")

    return app
