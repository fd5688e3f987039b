"""The one matcher of API Gateway route templates (``/api/pause/{watchId}``), as API Gateway
matches them: segment by segment, a ``{name}`` takes one non-empty segment, and a trailing
slash is a different path.  The local stack picks a function with it; the HTTP functions
answer 405 (and their ``Allow`` header) with it.  Plain functions, no AWS import."""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import unquote

from hitl import wiring


def match(template: str, path: str) -> dict[str, str] | None:
    """The path parameters (URL-decoded) when ``path`` matches ``template``, else ``None``."""
    if template == wiring.DEFAULT_ROUTE:
        return None
    wanted = template.split("/")
    given = path.split("/")
    if len(wanted) != len(given):
        return None
    params: dict[str, str] = {}
    for w, g in zip(wanted, given, strict=True):
        if w.startswith("{") and w.endswith("}"):
            if not g:
                return None
            params[w[1:-1]] = unquote(g)
        elif w != g:
            return None
    return params


def find(method: str, path: str, routes: Iterable[wiring.Route] = wiring.ROUTES) -> tuple[wiring.Route, dict[str, str]]:
    """The route API Gateway picks: the first whose method and template match, else ``$default``."""
    default: wiring.Route | None = None
    for route in routes:
        if route.path == wiring.DEFAULT_ROUTE:
            default = route
            continue
        if route.method not in (method, "ANY"):
            continue
        params = match(route.path, path)
        if params is not None:
            return route, params
    if default is None:
        raise LookupError(f"no route for {method} {path} and no {wiring.DEFAULT_ROUTE} route")
    return default, {}


def methods_at(path: str, routes: Iterable[wiring.Route] = wiring.ROUTES) -> list[str]:
    """The methods some route offers at ``path`` (for 405 and ``Allow``), sorted."""
    return sorted({route.method for route in routes if match(route.path, path) is not None})


def template_of(rule: str) -> str:
    """A powertools rule (``/api/pause/<watchId>``) in API Gateway syntax (``/api/pause/{watchId}``)."""
    parts = rule.split("/")
    return "/".join(f"{{{p[1:-1]}}}" if p.startswith("<") and p.endswith(">") else p for p in parts)
