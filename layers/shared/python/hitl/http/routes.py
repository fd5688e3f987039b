"""The one matcher of API Gateway route templates (``/api/pause/{watchId}``), as API Gateway
matches them: segment by segment, a ``{name}`` takes one non-empty segment, and a trailing
slash is a different path.  The local stack picks a function with it (``find``); the HTTP
functions answer 405 and their ``Allow`` header with it (``methods_at``).  Plain functions, no AWS import."""

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


def find(method: str, path: str, table: Iterable[wiring.Route] | None = None) -> tuple[wiring.Route, dict[str, str]]:
    """The route API Gateway picks for a request (``table``: ``wiring.ROUTES`` at call time): the
    first whose method and template match, one trailing slash aside, else ``$default``.  The
    function still sees the raw path, and its resolver answers 404 for the slash: the route only
    decides which function answers (a link page's 404 stays a page)."""
    default: wiring.Route | None = None
    selected = path.rstrip("/") or "/"
    for route in wiring.ROUTES if table is None else table:
        if route.path == wiring.DEFAULT_ROUTE:
            default = route
            continue
        if route.method not in (method, "ANY"):
            continue
        params = match(route.path, selected)
        if params is not None:
            return route, params
    if default is None:
        raise LookupError(f"no route for {method} {path} and no {wiring.DEFAULT_ROUTE} route")
    return default, {}


def methods_at(path: str, table: Iterable[wiring.Route] | None = None) -> list[str]:
    """The methods some route offers at exactly ``path`` (for 405 and ``Allow``), sorted."""
    table = wiring.ROUTES if table is None else table
    return sorted({route.method for route in table if match(route.path, path) is not None})


def template_of(rule: str) -> str:
    """A powertools rule (``/api/pause/<watchId>``) in API Gateway syntax (``/api/pause/{watchId}``)."""
    parts = rule.split("/")
    return "/".join(f"{{{p[1:-1]}}}" if p.startswith("<") and p.endswith(">") else p for p in parts)
