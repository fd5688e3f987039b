"""``hitl-admin``: manage tenants, their members and API keys, on the local stack or a deployed one.

Output is JSON on stdout; a new key appears once, in full, as ``apiKey``.  Errors go to
stderr as one line ``{"error": {code, message}}`` with exit status 1 (2 for bad usage),
also when the table cannot be reached (the local stack down, no AWS credentials).

``create-tenant --owner EMAIL`` follows the deployment's sign-up setting, ``HITL_SIGNUP`` in the
environment (default: open for ``--local``, closed for a deployed stack, as each is deployed): when
closed, the owner is emailed an invitation (through SES, from the stack's sender, with links to
its public URL) and joins on accepting it; when open, the owner is added confirmed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
)

from hitl import runtime, wiring
from hitl.adapters.dynamo import DynamoStore
from hitl.domain.errors import DomainError
from hitl.domain.ports import InvitationMailer
from hitl.domain.teams import ROLES
from hitl.domain.tenants import LIST_LIMIT, TenantAdmin

PLANS = ("free", "starter", "pro")
#: The local stack answers at once or not at all: fail fast instead of botocore's retries.
LOCAL_CLIENT = Config(connect_timeout=2, read_timeout=10, retries={"max_attempts": 1})


class Unreachable(Exception):
    """The table cannot be reached: a one-line explanation for stderr."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


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

    tenant_help = "tenant id or name"
    create = commands.add_parser("create-tenant", help="a tenant, its members and a first key")
    create.add_argument("name", help="the tenant's name (unique)")
    create.add_argument("--plan", choices=PLANS, default="free", help="default free")
    create.add_argument(
        "--approver",
        action="append",
        default=[],
        metavar="EMAIL",
        help="a member, added confirmed (repeatable); without --owner the first one is the owner",
    )
    create.add_argument(
        "--owner",
        action="append",
        default=[],
        metavar="EMAIL",
        help="an owner (repeatable): emailed an invitation when HITL_SIGNUP=closed, else added confirmed",
    )
    create.add_argument(
        "--base-url",
        help="the public URL invitation links use (default: the stack's ApiUrl output, or PUBLIC_BASE_URL)",
    )
    create.add_argument("--sender", help="the From of invitation emails (default: the stack's SenderAddress)")

    listing = commands.add_parser("list-tenants", help="every tenant: id, name, created")
    listing.add_argument("--limit", type=int, default=LIST_LIMIT, help=f"show at most this many (default {LIST_LIMIT})")

    key = commands.add_parser("create-key", help="a new API key, shown once")
    key.add_argument("tenant", help=tenant_help)
    key.add_argument("--name", default="default", help="what the key is for (default 'default')")

    keys = commands.add_parser("list-keys", help="a tenant's keys: id, name, last 4 characters, use, revoked")
    keys.add_argument("tenant", help=tenant_help)

    revoke = commands.add_parser("revoke-key", help="revoke a key by its id (key_…); refused from the next request on")
    revoke.add_argument("key_id", help="the key's id, key_… (list-keys shows it)")

    add = commands.add_parser("add-approver", help="add a member, already confirmed (role approver unless --role)")
    add.add_argument("tenant", help=tenant_help)
    add.add_argument("email", help="the member's email address")
    add.add_argument("--role", choices=ROLES, help="owner or approver (default: approver; an existing member's stays)")

    invite = commands.add_parser("invite", help="email someone an invitation to join (they join on accepting it)")
    invite.add_argument("tenant", help=tenant_help)
    invite.add_argument("email", help="the invitee's email address")
    invite.add_argument("--role", choices=ROLES, default="approver", help="owner or approver (default approver)")
    resend = commands.add_parser("resend-invitation", help="a new invitation link (7 more days); the old one stops")
    resend.add_argument("tenant", help=tenant_help)
    resend.add_argument("email", help="the invitee's email address")
    for mailing in (invite, resend):
        mailing.add_argument("--base-url", help="the public URL invitation links use (as for create-tenant)")
        mailing.add_argument("--sender", help="the From of invitation emails (as for create-tenant)")

    members = commands.add_parser("list-members", help="a tenant's members: role, status, last active, invitations")
    members.add_argument("tenant", help=tenant_help)

    remove = commands.add_parser(
        "remove-approver",
        help="remove a member at once (refused for the last owner, or if the policy floor could no longer be met)",
    )
    remove.add_argument("tenant", help=tenant_help)
    remove.add_argument("email", help="the member's email address")
    remove.add_argument(
        "--lower-floor",
        action="store_true",
        help="if the approvers left cannot meet the floor's minimum of approvals, lower it to what is left",
    )

    plan = commands.add_parser("set-plan", help="change the plan (refused if the approvers or floor exceed it)")
    plan.add_argument("tenant", help=tenant_help)
    plan.add_argument("plan", choices=PLANS, help="the new plan")

    floor = commands.add_parser(
        "set-policy",
        help="the policy floor agents cannot go below (refused if no create could meet it)",
    )
    floor.add_argument("tenant", help=tenant_help)
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
    show.add_argument("tenant", help=tenant_help)
    add_verify_audit(commands)
    return top


def add_verify_audit(commands: Any) -> None:
    verify = commands.add_parser(
        "verify-audit",
        help="check a tenant's audit log (or an exported JSON-lines file) for edited or missing entries; exit 1 if so",
    )
    target = verify.add_mutually_exclusive_group(required=True)
    target.add_argument("tenant", nargs="?", help="tenant id or name: its hash chains in the table, with their heads")
    target.add_argument("--file", type=Path, help="an export (/app/audit/export?format=jsonl): checked offline")


def verify_audit(args: argparse.Namespace) -> tuple[int, dict[str, Any]]:
    """``verify-audit``: the report, and 1 when a chain (or the file) fails its check."""
    from hitl.adapters.audit_repository import DynamoAudit
    from hitl.domain.audit_log import AuditLog, verify_export

    if args.file is not None:
        try:
            with args.file.open(encoding="utf-8") as lines:
                report = {"file": str(args.file), **verify_export(lines)}
        except OSError as error:
            raise Unreachable("unreadable_file", f"Cannot read {args.file}: {error.strerror or error}.") from error
    else:
        store = connect(args)
        tenant = runtime.tenant_admin(store).tenant(args.tenant)
        report = AuditLog(DynamoAudit(store.table), store.pauses, store.tenants).verify(tenant.tenantId)
    return (0 if report["ok"] else 1), report


def local_config(args: argparse.Namespace) -> dict[str, Any]:
    config_path = Path(args.state_dir) / "local.json"
    if not config_path.exists():
        raise Unreachable("local_stack_down", f"{config_path} not found: start the local stack with `make dev`.")
    try:
        config = json.loads(config_path.read_text())
        if not isinstance(config, dict):
            raise TypeError("not an object")
        missing = {"awsEndpoint", "tableName"} - set(config)
        if missing:
            raise KeyError(", ".join(sorted(missing)))
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise Unreachable(
            "local_stack_down", f"{config_path} is unreadable ({error!r}): restart the local stack with `make dev`."
        ) from error
    return config


def local_session() -> boto3.session.Session:
    return boto3.session.Session(
        aws_access_key_id="local",
        aws_secret_access_key="local",  # noqa: S106  moto accepts any credentials
        region_name="us-east-1",
    )


def stack_outputs(session: boto3.session.Session, stack_name: str) -> dict[str, str]:
    stack = session.client("cloudformation").describe_stacks(StackName=stack_name)["Stacks"][0]
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def connect(args: argparse.Namespace) -> DynamoStore:
    if args.local:
        config = local_config(args)
        client = local_session().client("dynamodb", endpoint_url=config["awsEndpoint"], config=LOCAL_CLIENT)
        return DynamoStore(client, config["tableName"])
    session = boto3.session.Session()
    table = args.table
    if args.stack:
        outputs = stack_outputs(session, args.stack)
        table = next((v for k, v in outputs.items() if k.startswith("TableName")), None)
        if not table:
            raise Unreachable("no_table", f"Stack {args.stack} has no TableName output.")
    return DynamoStore(session.client("dynamodb"), table)


def signup(args: argparse.Namespace) -> str:
    """The deployment's sign-up setting: ``HITL_SIGNUP``, else the default of where we work."""
    mode = os.environ.get(wiring.ENV_SIGNUP) or (wiring.SIGNUP_OPEN if args.local else wiring.SIGNUP_CLOSED)
    if mode not in wiring.SIGNUP_MODES:
        raise Unreachable("invalid_setting", f"{wiring.ENV_SIGNUP} is one of open, closed, not {mode!r}.")
    return mode


def invitation_mailer(args: argparse.Namespace) -> tuple[InvitationMailer, str]:
    """What emails invitations, and the public URL their links use: the local stack's SES (its
    outbox) and URL, or the deployed stack's SES, sender and URL (``--sender``, ``--base-url``,
    ``HITL_SENDER`` and ``PUBLIC_BASE_URL`` override the stack's outputs; ``--table`` needs them).
    Imported here: only the commands that email pay for the mail code (and Powertools' logger)."""
    from hitl.adapters.messaging import SesMailer
    from hitl.notify.invitation import InvitationEmails

    base_url = getattr(args, "base_url", None) or os.environ.get(wiring.ENV_PUBLIC_BASE_URL)
    sender = getattr(args, "sender", None) or os.environ.get(wiring.ENV_SENDER)
    configuration_set = os.environ.get(wiring.ENV_SES_CONFIGURATION_SET)
    if args.local:
        config = local_config(args)
        client = local_session().client("sesv2", endpoint_url=config["awsEndpoint"], config=LOCAL_CLIENT)
        base_url = base_url or config.get("apiUrl")
        sender = sender or wiring.DEFAULT_SENDER
    else:
        session = boto3.session.Session()
        if args.stack:
            outputs = stack_outputs(session, args.stack)
            base_url = base_url or next((v for k, v in outputs.items() if k.startswith("ApiUrl")), None)
            address = next((v for k, v in outputs.items() if k.startswith("SenderAddress")), None)
            sender = sender or (wiring.sender(address) if address and "<" not in address else address)
            configuration_set = configuration_set or next(
                (v for k, v in outputs.items() if k.startswith("SesConfigurationSet")), None
            )
        client = session.client("sesv2")
    if not base_url or not sender:
        raise Unreachable(
            "no_mail_settings",
            "An invitation needs the service's public URL and sender: give --base-url and --sender "
            f"(or set {wiring.ENV_PUBLIC_BASE_URL} and {wiring.ENV_SENDER}), or use --stack.",
        )
    return InvitationEmails(SesMailer(client, sender, configuration_set), sender), base_url.rstrip("/")


def explain(error: Exception, args: argparse.Namespace) -> Unreachable:
    """A boto3/botocore failure as one line a person can act on."""
    if args.local and isinstance(error, EndpointConnectionError | ConnectionError):
        return Unreachable(
            "local_stack_down",
            f"The local stack is not running (nothing answers at {getattr(error, 'kwargs', {}).get('endpoint_url')}"
            f" from {Path(args.state_dir) / 'local.json'}): start it with `make dev`.",
        )
    if args.local and not isinstance(error, ClientError):
        return Unreachable(
            "local_stack_down", f"The local stack does not answer ({' '.join(str(error).split())}): is `make dev` up?"
        )
    if isinstance(error, NoCredentialsError | PartialCredentialsError):
        return Unreachable(
            "no_credentials", "No AWS credentials: set AWS_PROFILE or AWS_ACCESS_KEY_ID, or use --local."
        )
    if isinstance(error, NoRegionError):
        return Unreachable("no_region", "No AWS region: set AWS_REGION or AWS_DEFAULT_REGION.")
    if isinstance(error, ClientError):
        details = error.response.get("Error", {})
        code = details.get("Code", "ClientError")
        return Unreachable("aws_error", f"AWS refused the call: {code}: {details.get('Message', '')}".rstrip(": "))
    return Unreachable("aws_error", f"Cannot reach AWS: {' '.join(str(error).split())}")


def run(args: argparse.Namespace, admin: TenantAdmin) -> dict[str, Any]:
    match args.command:
        case "create-tenant":
            invite = bool(args.owner) and signup(args) == wiring.SIGNUP_CLOSED
            if invite:
                admin.invitations, admin.base_url = invitation_mailer(args)
            return admin.create_tenant(args.name, args.plan, args.approver, owners=args.owner, invite_owners=invite)
        case "list-tenants":
            return admin.list_tenants(args.limit)
        case "create-key":
            return admin.create_key(args.tenant, args.name)
        case "list-keys":
            return admin.list_keys(args.tenant)
        case "revoke-key":
            return admin.revoke_key(args.key_id)
        case "add-approver":
            return admin.add_approver(args.tenant, args.email, args.role)
        case "list-members":
            return admin.list_members(args.tenant)
        case "invite" | "resend-invitation":
            admin.invitations, admin.base_url = invitation_mailer(args)
            return admin.invite(args.tenant, args.email, getattr(args, "role", None), resend=args.command != "invite")
        case "remove-approver":
            return admin.remove_approver(args.tenant, args.email, lower_floor=args.lower_floor)
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
    status = 0
    try:
        try:
            if args.command == "verify-audit":
                status, result = verify_audit(args)
            else:
                store = connect(args)
                result = run(args, runtime.tenant_admin(store))
        except (BotoCoreError, ClientError, ConnectionError) as error:
            raise explain(error, args) from error
    except (DomainError, Unreachable) as error:
        print(json.dumps({"error": {"code": error.code, "message": error.message}}), file=sys.stderr)
        return 1
    print(json.dumps(result, indent=2))
    return status


if __name__ == "__main__":
    sys.exit(main())
