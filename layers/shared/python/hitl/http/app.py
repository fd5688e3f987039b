"""The resolver every HTTP function builds: validation on, one error table, our error shape."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from hitl import wiring
from hitl.domain import errors
from hitl.domain.auth import Principal
from hitl.http import json_body, routes
from hitl.observability import logger
from hitl.runtime import services

JSON = json_body.JSON
STATUS_OF: dict[type[errors.DomainError], int] = {
    errors.BadRequest: 400,
    errors.Unauthorized: 401,
    errors.QuotaExceeded: 402,
    errors.PlanRequired: 402,
    errors.NotFound: 404,
    errors.Conflict: 409,
    errors.Gone: 410,
    errors.PayloadTooLarge: 413,
    json_body.UnsupportedMediaType: 415,
    errors.Unprocessable: 422,
    errors.TooManyWaits: 429,
}
#: Query parameters whose value could not even be parsed are a malformed request (400);
#: values out of range are a schema error (422).
PUBLIC_PATHS = frozenset({"/api/openapi.json"})
PARSE_ERRORS = {"int_parsing", "int_type", "float_parsing", "bool_parsing", "string_type", "missing_argument"}
#: the content type an event's body is given when ``json_body.screen`` refused it: powertools
#: then refuses to read it (RequestUnsupportedContentType) on exactly the routes that read a body
REFUSED_BODY = "application/x-hitl-refused-body"
BODY_PROBLEM = "hitl_body_problem"
Handler = TypeVar("Handler", bound=Callable[..., Response[Any]])


def error_response(status: int, code: str, message: str, details: dict[str, Any] | None = None) -> Response[Any]:
    payload: dict[str, Any] = {"code": code, "message": message}
    if details:
        payload["details"] = details
    return Response(status_code=status, content_type=JSON, body={"error": payload})


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response[Any]:
    return Response(status_code=status, content_type=JSON, body=body, headers=headers or {})


def principal(router: Router | APIGatewayHttpResolver) -> Principal:
    found = services().auth.authenticate(router.current_event.headers.get("authorization"))
    logger.append_keys(tenant_id=found.tenant_id)
    return found


def domain_response(error: errors.DomainError) -> Response[Any]:
    """The one table: a typed domain error → its status, in our error shape."""
    status = next((s for cls, s in STATUS_OF.items() if isinstance(error, cls)), 400)
    return error_response(status, error.code, error.message, error.details)


def _validation_response(error: RequestValidationError) -> Response[Any]:
    problems = []
    malformed = False
    for problem in error.errors():
        location = [str(part) for part in problem.get("loc", ())]
        kind = problem.get("type", "")
        if kind == "json_invalid":
            return error_response(400, "malformed_json", "The request body is not valid JSON.")
        if location and location[0] == "query" and kind in PARSE_ERRORS:
            malformed = True
        field = ".".join(location[1:] if location and location[0] in ("body", "query", "header") else location)
        problems.append({"field": field, "in": location[0] if location else "", "problem": problem.get("msg", "")})
    if malformed:
        return error_response(400, "invalid_query", "The query string is malformed.", {"errors": problems})
    return error_response(422, "validation_error", "The request does not match the schema.", {"errors": problems})


def handles(app: APIGatewayHttpResolver, kind: type[Exception]) -> Callable[[Handler], Handler]:
    """``app.exception_handler(kind)``, typed."""
    register: Callable[[Handler], Handler] = app.exception_handler(kind)
    return register


class HttpApi(APIGatewayHttpResolver):
    """The resolver of our JSON functions: a body that is not JSON never reaches powertools'
    parsers (a form body would be parsed as a form, a binary one decoded as UTF-8): it is
    marked refused, and only a route that reads a body answers that (415 or 400)."""

    def resolve(self, event: Mapping[str, Any], context: LambdaContext) -> dict[str, Any]:
        problem = json_body.screen(event)
        if problem is None:
            return super().resolve(event, context)
        event = {**event, "headers": {**(event.get("headers") or {}), "content-type": REFUSED_BODY}}
        self.context[BODY_PROBLEM] = problem
        try:
            return super().resolve(event, context)
        finally:
            self.context.pop(BODY_PROBLEM, None)  # never carried into the next request


def build_app(routers: Iterable[Router], *, known_routes: Iterable[wiring.Route] | None = None) -> HttpApi:
    """``known_routes`` (default: ``wiring.ROUTES`` when asked) name the methods a 405 allows."""
    app = HttpApi(enable_validation=True, json_body_deserializer=json_body.loads)
    for router in routers:
        app.include_router(router)

    def caller_refused() -> Response[Any] | None:
        """powertools validates before the route runs: answer a caller without a valid key 401
        first, so nothing about a request is judged before who sent it."""
        if app.current_event.path in PUBLIC_PATHS:
            return None
        try:
            principal(app)
        except errors.Unauthorized as refused:
            return domain_response(refused)
        return None

    @handles(app, RequestValidationError)
    def _invalid(error: RequestValidationError) -> Response[Any]:
        return caller_refused() or _validation_response(error)

    @handles(app, RequestUnsupportedContentType)
    def _unreadable(error: RequestUnsupportedContentType) -> Response[Any]:
        problem = app.context.get(BODY_PROBLEM) or json_body.UnsupportedMediaType(
            f"The body must be JSON sent with Content-Type: {JSON}.", details={"expected": JSON}
        )
        return caller_refused() or domain_response(problem)

    @handles(app, errors.DomainError)
    def _domain(error: errors.DomainError) -> Response[Any]:
        return domain_response(error)

    @handles(app, Exception)
    def _unexpected(error: Exception) -> Response[Any]:
        logger.exception("unhandled error")
        return error_response(500, "internal_error", "Something went wrong on our side; it has been logged.")

    @app.not_found
    def _not_found(_: Exception) -> Response[Any]:
        path = app.current_event.path
        methods = routes.methods_at(path, known_routes)
        if methods:
            response = error_response(
                405,
                "method_not_allowed",
                f"{app.current_event.http_method} is not allowed on {path}.",
                {"allowed": methods},
            )
            response.headers["Allow"] = ", ".join(methods)
            return response
        return error_response(404, "route_not_found", f"No route {app.current_event.http_method} {path}.")

    return app
