"""Slack's interactivity ack: how long ``POST /slack/interactivity`` takes to answer a signed
Approve click that decides (Slack gives up after 3 s, and shows the approver an error).

The handler runs in-process, invoked as Lambda invokes it with API Gateway v2 events (the form body
base64-encoded, the request signed with the app's signing secret), against moto (server mode on
loopback: DynamoDB, EventBridge, KMS, SSM).  Each run is a fresh Python process: *cold* is its
first click — the handler module's import (powertools, pydantic, the domain) plus its first
request (slack_sdk's import, the signing secret read from SSM, the clients built); *warm* are the
clicks after it, one fresh pause each.  Every click verifies the signature, reads the team's
workspace, the tenant and the pause, and decides (one transaction, the event put on the bus).
Figures for comparison between changes on one machine: moto is not DynamoDB.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
import warnings
from typing import Any
from urllib.parse import urlencode

from bench.common import REPO, Options, heading, percentile, quiet_powertools_environment, table
from hitl import wiring

REGION = "us-east-1"
BASE_URL = "https://hitl.example.test"
SIGNING_SECRET = "bench-signing-secret"
SIGNING_PARAMETER = "/hitl-bench/slack/signing-secret"
TEAM = "T0BENCH"
APPROVER, SLACK_USER = "ann@example.com", "U0ANN"
#: Slack's own deadline for the answer
SLACK_ACK_DEADLINE_MS = 3000


def click_event(watch_id: str, team: str) -> dict[str, Any]:
    from slack_sdk.signature import SignatureVerifier

    from hitl.slack import blocks
    from hitl_local import apigw

    payload = {
        "type": "block_actions",
        "team": {"id": team},
        "user": {"id": SLACK_USER},
        "channel": {"id": f"D{SLACK_USER}"},
        "actions": [{"action_id": blocks.APPROVE, "value": watch_id, "block_id": blocks.ACTIONS_BLOCK}],
    }
    body = urlencode({"payload": json.dumps(payload)})
    stamp = str(int(time.time()))
    headers = {
        "content-type": "application/x-www-form-urlencoded",
        "x-slack-request-timestamp": stamp,
        "x-slack-signature": str(SignatureVerifier(SIGNING_SECRET).generate_signature(timestamp=stamp, body=body)),
    }
    route, params = apigw.match_route("POST", "/slack/interactivity")
    return apigw.to_event(apigw.Request("POST", "/slack/interactivity", "", headers, body.encode()), route, params)


def prepare(endpoint: str, clicks: int, run: int) -> tuple[dict[str, str], list[dict[str, Any]]]:
    """The stack's resources on the moto server, a pro tenant with its workspace connected and its
    approver linked, ``clicks`` pending pauses and a signed click event for each; the slack
    function's environment.  Each ``run`` has a tenant and a Slack team of its own."""
    import boto3

    from hitl import runtime, timeutil
    from hitl.adapters.dynamo import DynamoStore
    from hitl.adapters.kms import SLACK_BOT_TOKEN, KmsCrypto
    from hitl.domain.auth import Authenticator
    from hitl.domain.models import SlackWorkspace
    from hitl.domain.requests import CreatePauseRequest
    from hitl.domain.service import PauseService
    from hitl_local import resources
    from tests.fakes import MemoryPublisher

    session = boto3.session.Session(region_name=REGION)
    names = resources.create(session)
    session.client("ssm").put_parameter(
        Name=SIGNING_PARAMETER, Value=SIGNING_SECRET, Type="SecureString", Overwrite=True
    )
    store = DynamoStore(session.client("dynamodb"), names.table)
    tenant = runtime.tenant_admin(store).create_tenant(f"bench-slack-{run}", "pro", [APPROVER])
    cipher = KmsCrypto(session.client("kms"), names.kms_key_id, purpose=SLACK_BOT_TOKEN)
    store.slack.connect(
        SlackWorkspace(
            tenantId=tenant["tenantId"],
            teamId=f"{TEAM}{run}",
            teamName="Bench",
            botUserId="U0BOT",
            botTokenCipher=cipher.encrypt(tenant["tenantId"], "xoxb-bench"),
            connectedAt=timeutil.iso(timeutil.now()),
            connectedBy=APPROVER,
            via="token",
        )
    )
    store.tenants.set_slack_user(tenant["tenantId"], APPROVER, SLACK_USER)
    principal = Authenticator(store.tenants).authenticate(f"Bearer {tenant['apiKey']}")
    service = PauseService(store, MemoryPublisher(), BASE_URL)
    events = [
        click_event(
            service.create(principal, CreatePauseRequest(action=f"bench {n}"), None).pause.watchId, f"{TEAM}{run}"
        )
        for n in range(clicks)
    ]
    app = wiring.SlackApp(
        signing_secret_parameter=SIGNING_PARAMETER,
        client_id="1.2",
        client_secret_parameter="/hitl-bench/slack/client-secret",
        api_url="http://127.0.0.1:9/api/",  # never called: every click decides
    )
    deployment = wiring.Deployment(names.table, names.bus, BASE_URL, names.queues, kms_key_id=names.kms_key_id)
    environment = {
        **wiring.function_environment(wiring.SLACK, deployment),
        **wiring.slack_environment(app),
        **quiet_powertools_environment(),
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }
    return environment, events


#: the fresh process: time the handler's import with its first click, then each warm click
CHILD = """
import json, sys, time
events = json.load(open(sys.argv[1]))
sys.path[:0] = json.loads(sys.argv[2])
started = time.perf_counter()
import slack_handler
from hitl_local import apigw
context = apigw.LambdaContext(function_name="slack")
times, statuses = [], []
for event in events:
    result = slack_handler.lambda_handler(event, context)
    times.append((time.perf_counter() - started) * 1000)
    statuses.append(result["statusCode"])
    started = time.perf_counter()
print(json.dumps({"times": times, "statuses": statuses}))
"""


def run_child(environment: dict[str, str], events: list[dict[str, Any]], workdir: str) -> dict[str, Any]:
    path = os.path.join(workdir, "events.json")
    with open(path, "w") as out:
        json.dump(events, out)
    sys_path = [str(REPO / wiring.SLACK.asset), str(REPO / "layers" / "shared" / "python"), str(REPO / "tools")]
    answer = subprocess.run(
        [sys.executable, "-c", CHILD, path, json.dumps(sys_path)],
        capture_output=True,
        text=True,
        env={"PATH": os.environ.get("PATH", ""), **environment},
        check=False,
        timeout=300,
    )
    if answer.returncode != 0:
        raise RuntimeError(f"the click process failed:\n{answer.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(answer.stdout.strip().splitlines()[-1])
    result["log"] = [line for line in answer.stdout.splitlines()[:-1] if '"level":"ERROR"' in line]
    return result


def run(options: Options) -> None:
    heading("Slack interactivity: the ack of a signed Approve click that decides (in-process handler, moto server)")
    import tempfile

    from moto.server import ThreadedMotoServer

    from hitl.observability import logger

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    level = logger.log_level
    logger.setLevel("WARNING")  # the setup's own pauses and transitions
    processes = 2 if options.quick else 4
    warm = options.requests
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    previous = {
        name: os.environ.get(name) for name in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
    }
    os.environ.update(
        {"AWS_ENDPOINT_URL": f"http://{host}:{port}", "AWS_ACCESS_KEY_ID": "t", "AWS_SECRET_ACCESS_KEY": "t"}
    )
    colds: list[float] = []
    warms: list[float] = []
    #: the status of each click not acknowledged with 200 (on a starved machine, moto's answers can
    #: take longer than botocore's read timeout)
    failed: list[int] = []
    errors: list[str] = []
    try:
        with warnings.catch_warnings(), tempfile.TemporaryDirectory() as workdir:
            warnings.simplefilter("ignore")
            for number in range(processes):
                environment, events = prepare(f"http://{host}:{port}", 1 + warm, number)
                result = run_child(environment, events, workdir)
                answered = list(zip(result["statuses"], result["times"], strict=True))
                failed.extend(status for status, _ in answered if status != 200)
                errors.extend(result["log"])
                if answered[0][0] == 200:
                    colds.append(answered[0][1])
                warms.extend(ms for status, ms in answered[1:] if status == 200)
    finally:
        logger.setLevel(level)
        server.stop()
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    rows = [
        ("warm click (decides)", len(warms), f"{percentile(warms, 50):.1f}", f"{percentile(warms, 99):.1f}", "-"),
        (
            "cold: import + first click",
            len(colds),
            f"{percentile(colds, 50):.0f}",
            f"{percentile(colds, 99):.0f}",
            f"{max(colds):.0f}",
        ),
    ]
    print(table(["request", "samples", "p50 ms", "p99 ms", "max ms"], rows))
    print(f"(Slack's deadline: {SLACK_ACK_DEADLINE_MS} ms; the clicks decide in the request)")
    if failed:
        print(f"NOT acknowledged: {len(failed)} click(s), statuses {sorted(set(failed))} (left out of the figures)")
        for line in errors[:3]:
            print(f"  {line[:300]}")
