"""``hitl-admin``: manage tenants, approvers and API keys, on the local stack or a deployed one.

Output is JSON on stdout; a new key appears once, in full, as ``apiKey``.  Errors go to
stderr as ``{"error": {code, message}}`` with exit status 1 (2 for bad usage).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import boto3

from hitl.adapters.dynamo import DynamoStore
from hitl.domain.errors import DomainError
from hitl.domain.tenants import TenantAdmin

PLANS = ("free", "starter", "pro")


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="hitl-admin", description=__doc__.splitlines()[0] if __doc__ else None)
    where = top.add_mutually_exclusive_group(required=True)
    where.add_argument("--local", action="store_true", help="the local stack (reads .hitl/local.json)")
    where.add_argument("--stack", help="a deployed CloudFormation stack (its TableName output)")
    where.add_argument("--table", help="a deployed stack's DynamoDB table name")
    top.add_argument(
        "--state-dir",
        default=os.environ.get("HITL_STATE_DIR", ".hitl"),
        help="with --local: where local.json is (default .hitl)",
    )
    commands = top.add_subparsers(dest="command", required=True)

    create = commands.add_parser("create-tenant", help="a tenant, its approvers (confirmed) and a first key")
    create.add_argument("name")
    create.add_argument("--plan", choices=PLANS, default="free")
    create.add_argument("--approver", action="append", default=[], metavar="EMAIL")

    key = commands.add_parser("create-key", help="a new API key, shown once")
    key.add_argument("tenant", help="tenant id or name")
    key.add_argument("--name", default="default")

    revoke = commands.add_parser("revoke-key", help="revoke a key by its id (key_…); effective within a minute")
    revoke.add_argument("key_id")

    add = commands.add_parser("add-approver", help="add an approver, already confirmed")
    add.add_argument("tenant")
    add.add_argument("email")

    remove = commands.add_parser("remove-approver")
    remove.add_argument("tenant")
    remove.add_argument("email")

    plan = commands.add_parser("set-plan")
    plan.add_argument("tenant")
    plan.add_argument("plan", choices=PLANS)

    floor = commands.add_parser("set-policy", help="the tenant's policy floor, which agents cannot go below")
    floor.add_argument("tenant")
    auto = floor.add_mutually_exclusive_group()
    auto.add_argument(
        "--allow-auto-approve", dest="auto", action="store_true", default=None, help="allow onTimeout: approve"
    )
    auto.add_argument("--no-auto-approve", dest="auto", action="store_false", help="refuse onTimeout: approve")
    floor.add_argument("--min-approvals", type=int, metavar="N", help="the least requiredApprovals a pause may ask")
    floor.add_argument(
        "--min-auto-approve-timeout", type=int, metavar="SECONDS", help="the shortest timeout that may auto-approve"
    )

    show = commands.add_parser("show-tenant", help="a tenant, its approvers and this month's usage")
    show.add_argument("tenant")
    return top


def connect(args: argparse.Namespace) -> DynamoStore:
    if args.local:
        config_path = Path(args.state_dir) / "local.json"
        if not config_path.exists():
            raise SystemExit(f"hitl-admin: {config_path} not found: start the local stack with `make dev` first")
        config = json.loads(config_path.read_text())
        session = boto3.session.Session(
            aws_access_key_id="local",
            aws_secret_access_key="local",  # noqa: S106  moto accepts any credentials
            region_name="us-east-1",
        )
        client = session.client("dynamodb", endpoint_url=config["awsEndpoint"])
        return DynamoStore(client, config["tableName"])
    session = boto3.session.Session()
    table = args.table
    if args.stack:
        stack = session.client("cloudformation").describe_stacks(StackName=args.stack)["Stacks"][0]
        outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
        table = next((v for k, v in outputs.items() if k.startswith("TableName")), None)
        if not table:
            raise SystemExit(f"hitl-admin: stack {args.stack} has no TableName output")
    return DynamoStore(session.client("dynamodb"), table)


def run(args: argparse.Namespace, admin: TenantAdmin) -> dict[str, Any]:
    match args.command:
        case "create-tenant":
            return admin.create_tenant(args.name, args.plan, args.approver)
        case "create-key":
            return admin.create_key(args.tenant, args.name)
        case "revoke-key":
            return admin.revoke_key(args.key_id)
        case "add-approver":
            return admin.add_approver(args.tenant, args.email)
        case "remove-approver":
            return admin.remove_approver(args.tenant, args.email)
        case "set-plan":
            return admin.set_plan(args.tenant, args.plan)
        case "set-policy":
            return admin.set_policy(
                args.tenant,
                allow_auto_approve=args.auto,
                min_required_approvals=args.min_approvals,
                min_auto_approve_timeout_seconds=args.min_auto_approve_timeout,
            )
        case "show-tenant":
            return admin.describe(args.tenant)
    raise SystemExit(2)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    admin = TenantAdmin(connect(args).tenants)
    try:
        result = run(args, admin)
    except DomainError as error:
        print(json.dumps({"error": {"code": error.code, "message": error.message}}), file=sys.stderr)
        return 1
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
