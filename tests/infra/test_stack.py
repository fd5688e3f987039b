"""The deployed stack, as the wiring describes it: table, bus, functions, routes, grants, schedules."""

from __future__ import annotations

import json
import re

import pytest

from hitl import wiring
from infra import layer_build
from infra.lambda_defaults import RUNTIME, construct_name
from tests.infra.iam import actions, resources

# --- the table ------------------------------------------------------------------------


def test_table_has_the_wirings_keys_ttl_pitr_encryption_and_is_retained(synthesized):
    table_id, props = synthesized.one("AWS::DynamoDB::Table")

    assert props["KeySchema"] == [
        {"AttributeName": wiring.TABLE_PK, "KeyType": "HASH"},
        {"AttributeName": wiring.TABLE_SK, "KeyType": "RANGE"},
    ]
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert props["TimeToLiveSpecification"] == {"AttributeName": wiring.TTL_ATTRIBUTE, "Enabled": True}
    assert props["SSESpecification"] == {"SSEEnabled": True}  # AWS-managed KMS key
    assert synthesized.resources[table_id]["DeletionPolicy"] == "Retain"
    assert synthesized.resources[table_id]["UpdateReplacePolicy"] == "Retain"
    key_names = {wiring.TABLE_PK, wiring.TABLE_SK} | {k for i in wiring.INDEXES for k in (i.pk, i.sk)}
    assert sorted(props["AttributeDefinitions"], key=lambda definition: definition["AttributeName"]) == [
        {"AttributeName": name, "AttributeType": "S"} for name in sorted(key_names)
    ]


@pytest.mark.parametrize("index", wiring.INDEXES, ids=lambda index: index.name)
def test_each_gsi_has_the_wirings_keys_and_projection(synthesized, index):
    _, props = synthesized.one("AWS::DynamoDB::Table")
    gsis = {gsi["IndexName"]: gsi for gsi in props["GlobalSecondaryIndexes"]}

    gsi = gsis[index.name]
    assert gsi["KeySchema"] == [
        {"AttributeName": index.pk, "KeyType": "HASH"},
        {"AttributeName": index.sk, "KeyType": "RANGE"},
    ]
    assert gsi["Projection"]["ProjectionType"] == index.projection
    if index.projection == "INCLUDE":
        assert sorted(gsi["Projection"]["NonKeyAttributes"]) == sorted(index.include)
    else:
        assert "NonKeyAttributes" not in gsi["Projection"]


def test_the_table_has_exactly_the_wirings_indexes(synthesized):
    _, props = synthesized.one("AWS::DynamoDB::Table")

    assert sorted(gsi["IndexName"] for gsi in props["GlobalSecondaryIndexes"]) == sorted(
        index.name for index in wiring.INDEXES
    )


# --- functions ---------------------------------------------------------------------------


def test_runtime_matches_the_deps_layer_build():
    assert RUNTIME.name == f"python{layer_build.PYTHON_VERSION}"


@pytest.mark.parametrize("spec", wiring.FUNCTIONS, ids=lambda spec: spec.name)
def test_each_function_has_the_service_defaults_and_its_wiring(synthesized, spec):
    props = synthesized.props(synthesized.function_id(spec.name))

    assert props["Runtime"] == RUNTIME.name
    assert props["Architectures"] == ["arm64"]
    assert props["MemorySize"] == spec.memory_mb
    assert props["Timeout"] == spec.timeout_s
    assert props.get("ReservedConcurrentExecutions") == spec.reserved_concurrency
    assert props["TracingConfig"] == {"Mode": "Active"}
    assert props["LoggingConfig"]["LogFormat"] == "JSON"
    log_group_id = props["LoggingConfig"]["LogGroup"]["Ref"]
    assert synthesized.props(log_group_id)["RetentionInDays"] == 30
    assert len(props["Layers"]) == 2


def test_the_wait_function_is_capped_by_the_wirings_reserved_concurrency(synthesized):
    props = synthesized.props(synthesized.function_id(wiring.WAIT.name))

    assert wiring.WAIT.reserved_concurrency is not None
    assert props["ReservedConcurrentExecutions"] == wiring.WAIT.reserved_concurrency


@pytest.mark.parametrize("spec", wiring.FUNCTIONS, ids=lambda spec: spec.name)
def test_each_function_gets_the_wiring_environment_naming_our_resources(synthesized, spec):
    variables = synthesized.environment(spec.name)

    work_queues = wiring.work_queues_of(spec)
    expected_keys = {
        "TABLE_NAME",
        "EVENT_BUS_NAME",
        "PUBLIC_BASE_URL",
        "POWERTOOLS_SERVICE_NAME",
        "POWERTOOLS_METRICS_NAMESPACE",
        "POWERTOOLS_LOG_LEVEL",
        "POWERTOOLS_TRACER_CAPTURE_RESPONSE",
        "POWERTOOLS_TRACER_CAPTURE_ERROR",
        "HITL_SIGNUP",
    } | {wiring.queue_url_env(queue) for queue in work_queues}
    if wiring.SES_SEND in spec.needs:
        expected_keys |= {"HITL_SENDER", "SES_CONFIGURATION_SET"}
    if wiring.KMS_USE in spec.needs:
        expected_keys |= {"HITL_KMS_KEY_ID"}
    if spec is wiring.DASHBOARD:
        expected_keys |= {"HITL_SIGNUP", "HITL_SESSION_IDLE_SECONDS", "HITL_SESSION_MAX_SECONDS"}
        assert variables["HITL_SIGNUP"] == "closed"  # the CDK stack's default
    assert set(variables) == expected_keys
    # exactly what the wiring builds for it, the one place a function's environment is assembled
    assert set(variables) == set(
        wiring.function_environment(
            spec,
            wiring.Deployment(
                "t", "b", "u", dict.fromkeys(work_queues, "q"), sender="s", ses_configuration_set="c", kms_key_id="k"
            ),
        )
    )
    assert variables["POWERTOOLS_TRACER_CAPTURE_RESPONSE"] == variables["POWERTOOLS_TRACER_CAPTURE_ERROR"] == "false"
    assert variables[wiring.ENV_TABLE] == {"Ref": synthesized.table_id}
    assert variables[wiring.ENV_BUS] == {"Ref": synthesized.bus_id}
    # the API's own URL (https://{id}.execute-api.{region}.{suffix}), no trailing slash
    assert variables[wiring.ENV_PUBLIC_BASE_URL] == {"Fn::GetAtt": [synthesized.api_id, "ApiEndpoint"]}
    assert variables[wiring.ENV_SERVICE] == wiring.SERVICE_NAME
    assert variables["POWERTOOLS_LOG_LEVEL"] == "INFO"
    # sign-up is closed unless the deployment opens it (context ``signup``)
    assert variables[wiring.ENV_SIGNUP] == "closed"
    for queue in work_queues:  # a queue's URL is its Ref
        assert variables[wiring.queue_url_env(queue)] == {"Ref": synthesized.queue_id(queue)}


def test_layers_are_arm64_local_assets_and_nothing_is_built_with_docker(synthesized):
    layers = synthesized.of_type("AWS::Lambda::LayerVersion")
    manifest = synthesized.assets_manifest()

    assert len(layers) == 2
    for layer in layers.values():
        assert layer["Properties"]["CompatibleArchitectures"] == ["arm64"]
        assert RUNTIME.name in layer["Properties"]["CompatibleRuntimes"]
    assert not manifest.get("dockerImages")
    zipped = {asset["displayName"] for asset in manifest["files"].values() if asset["source"].get("packaging") == "zip"}
    assert {"Layers/Shared/Code", "Layers/Deps/Code"} <= zipped
    assert {f"Functions/{construct_name(spec.name)}Function/Code" for spec in wiring.FUNCTIONS} <= zipped


# --- grants ---------------------------------------------------------------------------------


#: What each function's code calls on the table, written out (not derived from the wiring): a
#: change of the grants is a change of this list.  A transaction's items count as their actions.
TABLE_ACTIONS_OF = {
    "api": {"GetItem", "Query", "PutItem", "UpdateItem", "DeleteItem"},
    "wait": {"GetItem", "Query", "UpdateItem"},
    "sweeper": {"GetItem", "Query", "PutItem", "UpdateItem"},
    "notifier": {"GetItem", "Query", "PutItem", "UpdateItem"},
    "pages": {"GetItem", "Query", "PutItem", "UpdateItem"},
    "webhooks": {"GetItem", "Query", "PutItem"},
    "dashboard": {"GetItem", "Query", "PutItem", "UpdateItem", "DeleteItem", "ConditionCheckItem"},
    "slack": {"GetItem", "Query", "PutItem", "UpdateItem"},
}


def test_every_function_has_its_table_actions_listed():
    assert set(TABLE_ACTIONS_OF) == {spec.name for spec in wiring.FUNCTIONS}


@pytest.mark.parametrize("spec", wiring.FUNCTIONS, ids=lambda spec: spec.name)
def test_table_access_is_exactly_what_the_function_calls_and_only_on_our_table(synthesized, spec):
    statements = synthesized.role_statements(spec.name)
    table_arn = {"Fn::GetAtt": [synthesized.table_id, "Arn"]}
    indexes = {"Fn::Join": ["", [table_arn, "/index/*"]]}

    on_table: set[str] = set()
    on_indexes: set[str] = set()
    for statement in statements:
        granted = {a for a in actions(statement) if a.startswith("dynamodb:")}
        if not granted:
            continue
        assert statement["Effect"] == "Allow" and "Condition" not in statement
        for resource in resources(statement):
            assert resource in (table_arn, indexes), statement
            (on_table if resource == table_arn else on_indexes).update(granted)
    assert on_table == {f"dynamodb:{action}" for action in TABLE_ACTIONS_OF[spec.name]}
    assert on_indexes == {"dynamodb:Query"}  # only a Query reads an index


def test_nothing_may_scan_the_table(synthesized):
    for spec in wiring.FUNCTIONS:
        for statement in synthesized.role_statements(spec.name):
            assert not {a for a in actions(statement) if a in ("dynamodb:Scan", "dynamodb:*", "*")}, spec.name
    for policy in synthesized.of_type("AWS::IAM::Policy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            assert "dynamodb:Scan" not in actions(statement)


def test_a_function_that_asks_to_scan_is_refused():
    with pytest.raises(ValueError, match="not a table action"):
        wiring.table_access("Scan")


@pytest.mark.parametrize("spec", wiring.FUNCTIONS, ids=lambda spec: spec.name)
def test_put_events_only_for_functions_that_need_it_and_only_on_our_bus(synthesized, spec):
    statements = synthesized.role_statements(spec.name)

    put = [s for s in statements if "events:PutEvents" in actions(s)]
    if wiring.BUS_PUT in spec.needs:
        assert put
        for statement in put:
            assert resources(statement) == [{"Fn::GetAtt": [synthesized.bus_id, "Arn"]}]
    else:
        assert put == []


def test_the_wait_function_cannot_put_events():
    assert wiring.BUS_PUT not in wiring.WAIT.needs  # the premise of the test above for "wait"


@pytest.mark.parametrize("spec", wiring.FUNCTIONS, ids=lambda spec: spec.name)
def test_no_statement_of_ours_uses_a_star_resource(synthesized, spec):
    for statement in synthesized.role_statements(spec.name):
        if "*" in resources(statement):
            # X-Ray has no resource-level permissions: CDK's tracing grant is the one exception
            assert actions(statement) <= {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}, statement


# --- the HTTP API ------------------------------------------------------------------------------


def _route_key(route: wiring.Route) -> str:
    return wiring.DEFAULT_ROUTE if route.path == wiring.DEFAULT_ROUTE else f"{route.method} {route.path}"


def test_the_api_has_exactly_the_wirings_routes(synthesized):
    route_keys = sorted(r["Properties"]["RouteKey"] for r in synthesized.of_type("AWS::ApiGatewayV2::Route").values())

    assert route_keys == sorted(_route_key(route) for route in wiring.ROUTES)
    assert wiring.DEFAULT_ROUTE in route_keys


@pytest.mark.parametrize("route", wiring.ROUTES, ids=_route_key)
def test_each_route_invokes_its_function_with_payload_v2(synthesized, route):
    routes = {
        r["Properties"]["RouteKey"]: r["Properties"] for r in synthesized.of_type("AWS::ApiGatewayV2::Route").values()
    }

    props = routes[_route_key(route)]
    assert props["ApiId"] == {"Ref": synthesized.api_id}
    target = props["Target"]["Fn::Join"][1]
    assert target[0] == "integrations/"
    integration = synthesized.props(target[1]["Ref"])
    assert integration["IntegrationType"] == "AWS_PROXY"
    assert integration["PayloadFormatVersion"] == "2.0"
    assert integration["IntegrationUri"] == {"Fn::GetAtt": [synthesized.function_id(route.function), "Arn"]}


@pytest.mark.parametrize("spec", wiring.FUNCTIONS, ids=lambda spec: spec.name)
def test_only_routed_functions_may_be_invoked_by_api_gateway(synthesized, spec):
    permissions = [
        p["Properties"]
        for p in synthesized.of_type("AWS::Lambda::Permission").values()
        if p["Properties"]["FunctionName"] == {"Fn::GetAtt": [synthesized.function_id(spec.name), "Arn"]}
        and p["Properties"]["Principal"] == "apigateway.amazonaws.com"
    ]

    assert len(permissions) == sum(1 for route in wiring.ROUTES if route.function == spec.name)
    for permission in permissions:
        source = permission["SourceArn"]["Fn::Join"][1]
        assert {"Ref": synthesized.api_id} in source  # this API only


def test_the_stage_is_throttled_auto_deployed_and_access_logged(synthesized):
    _, stage = synthesized.one("AWS::ApiGatewayV2::Stage")

    assert stage["StageName"] == "$default"
    assert stage["AutoDeploy"] is True
    assert stage["DefaultRouteSettings"]["ThrottlingRateLimit"] > 0
    assert stage["DefaultRouteSettings"]["ThrottlingBurstLimit"] > 0
    log_group_id = stage["AccessLogSettings"]["DestinationArn"]["Fn::GetAtt"][0]
    assert synthesized.resources[log_group_id]["Type"] == "AWS::Logs::LogGroup"
    assert "$context.requestId" in stage["AccessLogSettings"]["Format"]


def test_the_access_log_names_the_route_never_the_path_that_carries_a_token(synthesized):
    """An emailed link's token (``/a/{token}/approve``) must not land in CloudWatch."""
    _, stage = synthesized.one("AWS::ApiGatewayV2::Stage")
    logged = json.loads(stage["AccessLogSettings"]["Format"])

    assert logged["routeKey"] == "$context.routeKey"
    variables = set(re.findall(r"\$context\.[A-Za-z.]+", stage["AccessLogSettings"]["Format"]))
    assert not variables & {"$context.path", "$context.resourcePath", "$context.http.path"}, variables


# --- events and schedules -------------------------------------------------------------------------


def test_there_is_one_custom_event_bus(synthesized):
    _, bus = synthesized.one("AWS::Events::EventBus")

    assert bus["Name"]  # CDK-generated, passed to functions as EVENT_BUS_NAME


def test_the_deployed_stack_has_no_test_only_subscription(synthesized):
    patterns = [rule["EventPattern"] for rule in synthesized.rules_on_bus().values()]
    deployed = wiring.deployed_subscriptions()

    assert any(s.test_only for s in wiring.SUBSCRIPTIONS)  # e.g. "all-events"
    assert len(patterns) == sum(1 for s in deployed if s.from_bus and s.bus == "service")
    assert len(synthesized.rules_on_default_bus()) == sum(1 for s in deployed if s.from_bus and s.bus == "default")
    # the test-only "all-events" rule would be one more {source: [hitl]} rule, with no detail-type,
    # beside the deployed ones that take every event (the webhooks deliverer's)
    takes_all = [s for s in deployed if s.from_bus and s.bus == "service" and not s.detail_types]
    assert patterns.count({"source": [wiring.EVENT_SOURCE]}) == len(takes_all)
    assert not any(key.startswith("EventsAllEvents") for key in synthesized.resources)
    # a bus-fed subscription: queue, DLQ and rule-target DLQ; a work queue: queue and DLQ
    assert len(synthesized.of_type("AWS::SQS::Queue")) == sum(3 if s.from_bus else 2 for s in deployed)


@pytest.mark.parametrize("schedule", wiring.SCHEDULES, ids=lambda schedule: schedule.function)
def test_each_schedule_invokes_its_function_at_its_rate(synthesized, schedule):
    unit = "minute" if schedule.every_minutes == 1 else "minutes"
    function_arn = {"Fn::GetAtt": [synthesized.function_id(schedule.function), "Arn"]}
    rules = [
        r["Properties"]
        for r in synthesized.of_type("AWS::Events::Rule").values()
        if r["Properties"].get("ScheduleExpression") == f"rate({schedule.every_minutes} {unit})"
    ]

    assert len(rules) == 1
    rule = rules[0]
    assert "EventBusName" not in rule  # the default bus
    assert rule["State"] == "ENABLED"
    assert [target["Arn"] for target in rule["Targets"]] == [function_arn]
    # a failed or late run is superseded by the next one: never retried, never queued for long
    assert rule["Targets"][0]["RetryPolicy"]["MaximumRetryAttempts"] == 0
    (invoke_config,) = (
        c["Properties"]
        for c in synthesized.of_type("AWS::Lambda::EventInvokeConfig").values()
        if c["Properties"]["FunctionName"] == {"Ref": synthesized.function_id(schedule.function)}
    )
    assert invoke_config["MaximumRetryAttempts"] == 0
    assert invoke_config["MaximumEventAgeInSeconds"] <= 60 * schedule.every_minutes


# --- monitoring and outputs -----------------------------------------------------------------------


@pytest.mark.parametrize("spec", wiring.FUNCTIONS, ids=lambda spec: spec.name)
def test_each_function_has_an_errors_alarm(synthesized, spec):
    dimension = {"Name": "FunctionName", "Value": {"Ref": synthesized.function_id(spec.name)}}
    alarms = [
        a["Properties"]
        for a in synthesized.of_type("AWS::CloudWatch::Alarm").values()
        if a["Properties"]["MetricName"] == "Errors" and dimension in a["Properties"]["Dimensions"]
    ]

    assert len(alarms) == 1
    assert alarms[0]["ComparisonOperator"] == "GreaterThanThreshold"
    assert alarms[0]["Threshold"] == 0


def test_outputs_name_the_api_url_table_and_bus(synthesized):
    outputs = synthesized.json["Outputs"]

    assert outputs["ApiUrl"]["Value"] == {"Fn::GetAtt": [synthesized.api_id, "ApiEndpoint"]}
    assert outputs["TableName"]["Value"] == {"Ref": synthesized.table_id}
    assert outputs["EventBusName"]["Value"] == {"Ref": synthesized.bus_id}
