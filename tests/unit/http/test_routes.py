"""The one route matcher, and the wiring's routes against what each HTTP function serves."""

from __future__ import annotations

import importlib

import pytest

from hitl import wiring
from hitl.http import routes
from hitl_local import apigw

HTTP_FUNCTIONS = sorted({route.function for route in wiring.ROUTES if route.path != wiring.DEFAULT_ROUTE})


@pytest.mark.parametrize(
    ("template", "path", "params"),
    [
        ("/api/pause", "/api/pause", {}),
        ("/api/pause/{watchId}", "/api/pause/w_1", {"watchId": "w_1"}),
        ("/api/pause/{watchId}", "/api/pause/w%201", {"watchId": "w 1"}),
        ("/a/{token}/{choice}", "/a/tok/approve", {"token": "tok", "choice": "approve"}),
        ("/api/pause", "/api/pause/", None),  # a trailing slash is another path
        ("/api/pause/{watchId}", "/api/pause/", None),  # a parameter takes a non-empty segment
        ("/api/pause/{watchId}", "/api/pause/w_1/", None),
        ("/api/pause/{watchId}", "/api/pause/w_1/cancel", None),
        ("/api/pause", "/api/pauses", None),
        ("/api/pause", "api/pause", None),
        (wiring.DEFAULT_ROUTE, "/anything", None),
    ],
)
def test_match(template, path, params):
    assert routes.match(template, path) == params


def test_find_picks_the_function_and_falls_back_to_default():
    route, params = routes.find("GET", "/api/pause/w_1")
    assert (route.function, params) == (wiring.WAIT.name, {"watchId": "w_1"})
    assert routes.find("POST", "/api/pause")[0].function == wiring.API.name
    # one trailing slash aside, as the local gateway always picked: the function answers 404 for it
    assert routes.find("GET", "/api/pause/") == routes.find("GET", "/api/pause")
    assert routes.find("GET", "/a/t/approve/")[0].function == wiring.PAGES.name
    assert routes.find("PUT", "/api/pause")[0].path == wiring.DEFAULT_ROUTE


def test_the_local_gateway_uses_the_same_matcher():
    for method, path in [("GET", "/api/pause/w_1"), ("GET", "/api/pause/"), ("POST", "/a/t"), ("HEAD", "/a/t/view")]:
        assert apigw.match_route(method, path) == routes.find(method, path)


def test_methods_at_a_path():
    assert routes.methods_at("/api/pause") == ["GET", "POST"]
    assert routes.methods_at("/a/t/approve") == ["GET", "HEAD"]
    assert routes.methods_at("/api/pause/") == []


def test_find_reads_the_wiring_at_call_time(monkeypatch):
    added = wiring.Route("GET", "/later/{token}", wiring.PAGES.name)
    monkeypatch.setattr(wiring, "ROUTES", (added, *wiring.ROUTES))
    assert routes.find("GET", "/later/t") == (added, {"token": "t"})
    assert routes.methods_at("/later/t") == ["GET"]


def test_template_of_a_powertools_rule():
    assert routes.template_of("/api/pause/<watchId>/cancel") == "/api/pause/{watchId}/cancel"
    assert routes.template_of("/api/audit") == "/api/audit"


def registered(function: wiring.Function) -> set[tuple[str, str]]:
    """The (method, template) pairs the function's powertools resolver serves."""
    module = importlib.import_module(function.handler.rsplit(".", 1)[0])
    app = module.app
    # powertools keeps no public list of a resolver's routes
    served = [*app._static_routes, *app._dynamic_routes]
    return {(route.method, routes.template_of(route.path)) for route in served}


@pytest.mark.parametrize("name", HTTP_FUNCTIONS)
def test_the_wiring_routes_are_exactly_what_each_function_serves(name):
    function = wiring.function(name)
    wired = {(r.method, r.path) for r in wiring.ROUTES if r.function == name and r.path != wiring.DEFAULT_ROUTE}
    assert registered(function) == wired


def test_every_http_function_has_routes():
    assert set(HTTP_FUNCTIONS) == {
        wiring.API.name,
        wiring.WAIT.name,
        wiring.PAGES.name,
        wiring.DASHBOARD.name,
        wiring.SLACK.name,
    }
