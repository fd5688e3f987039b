"""``hitl-admin`` as an operator sees it: its JSON on stdout, its exit status, one-line errors."""

from __future__ import annotations

import json
import re
import socket
from pathlib import Path
from typing import Any

import pytest

from hitl_admin import cli


@pytest.fixture
def admin_cli(cloud, monkeypatch, capsys):
    """``admin_cli(*args)`` → (exit status, stdout JSON or None, stderr) against the moto table."""
    monkeypatch.setattr(cli, "connect", lambda args: cloud.store)

    def run(*args: str) -> tuple[int, Any, str]:
        capsys.readouterr()  # what the functions printed before
        status = cli.main(["--table", "x", *args])
        out, err = capsys.readouterr()
        return status, (json.loads(out) if out else None), err

    return run


def error_of(stderr: str) -> dict[str, str]:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    error: dict[str, str] = json.loads(lines[0])["error"]
    return error


# --- A6: floors no create can meet ------------------------------------------------------------


def test_set_policy_refuses_a_floor_of_more_approvals_than_the_tenant_has(admin_cli, api):
    # Given a free team with its one approver
    status, team, _ = admin_cli("create-tenant", "solo", "--plan", "free", "--approver", "ann@x.test")
    assert status == 0

    # When the operator asks for 2 approvals on every pause
    status, out, err = admin_cli("set-policy", "solo", "--min-approvals", "2")

    # Then it is refused with a reason, and creates still work
    assert status == 1 and out is None
    error = error_of(err)
    assert error["code"] == "floor_unmeetable"
    assert "1 approver" in error["message"] and "free plan allows 1" in error["message"]
    assert admin_cli("show-tenant", "solo")[1]["floor"]["minRequiredApprovals"] == 1
    assert api.post("/api/pause", {"action": "Deploy"}, key=team["apiKey"]).status == 201


def test_set_policy_accepts_a_floor_the_approvers_can_meet(admin_cli):
    admin_cli("create-tenant", "pair", "--plan", "starter", "--approver", "a@x.test", "--approver", "b@x.test")
    status, out, _ = admin_cli("set-policy", "pair", "--min-approvals", "2")
    assert status == 0 and out["floor"]["minRequiredApprovals"] == 2
    status, _, err = admin_cli("set-policy", "pair", "--min-approvals", "3")
    assert status == 1 and "add approvers first" in error_of(err)["message"]


def test_set_policy_refuses_an_auto_approve_timeout_longer_than_any_pause(admin_cli):
    admin_cli("create-tenant", "slow", "--plan", "pro", "--approver", "s@x.test")
    thirty_days = str(30 * 24 * 3600)
    status, out, _ = admin_cli("set-policy", "slow", "--allow-auto-approve", "--min-auto-approve-timeout", thirty_days)
    assert status == 0 and out["floor"]["minAutoApproveTimeoutSeconds"] == 30 * 24 * 3600
    status, out, err = admin_cli("set-policy", "slow", "--min-auto-approve-timeout", str(30 * 24 * 3600 + 1))
    assert status == 1 and out is None and error_of(err)["code"] == "floor_unmeetable"


def test_removing_an_approver_the_floor_needs_is_refused_unless_the_floor_is_lowered(admin_cli):
    # Given a team of two whose floor needs both
    admin_cli("create-tenant", "duo", "--plan", "starter", "--approver", "a@x.test", "--approver", "b@x.test")
    admin_cli("set-policy", "duo", "--min-approvals", "2")

    # When one of them is removed, it is refused and both stay
    status, out, err = admin_cli("remove-approver", "duo", "b@x.test")
    assert status == 1 and out is None
    error = error_of(err)
    assert error["code"] == "floor_unmeetable" and "--lower-floor" in error["message"]
    assert len(admin_cli("show-tenant", "duo")[1]["approvers"]) == 2

    # and with --lower-floor it goes, the floor drops to 1, and creates work
    status, out, _ = admin_cli("remove-approver", "duo", "b@x.test", "--lower-floor")
    assert status == 0
    assert out["removed"] == "b@x.test" and out["floor"]["minRequiredApprovals"] == 1
    shown = admin_cli("show-tenant", "duo")[1]
    assert [a["email"] for a in shown["approvers"]] == ["a@x.test"]
    assert shown["floor"]["minRequiredApprovals"] == 1


def test_set_plan_refuses_a_plan_whose_approver_cap_is_below_the_floor(admin_cli, cloud):
    # Given a pro tenant with one approver and (written before floors were checked) a floor of 2
    _, team, _ = admin_cli("create-tenant", "big", "--plan", "pro", "--approver", "a@x.test")
    cloud.store.tenants.set_floor(team["tenantId"], {"allowAutoApprove": False, "minRequiredApprovals": 2})

    # When the operator moves it to free (1 approver at most), it is refused with the way out
    status, out, err = admin_cli("set-plan", "big", "free")
    assert status == 1 and out is None
    error = error_of(err)
    assert error["code"] == "floor_unmeetable" and "--min-approvals 1" in error["message"]
    assert admin_cli("show-tenant", "big")[1]["plan"] == "pro"


# --- A10: listings, names, usage ---------------------------------------------------------------


def test_create_tenant_prints_the_tenants_name_and_the_keys_name_apart(admin_cli):
    status, out, _ = admin_cli("create-tenant", "acme", "--plan", "free", "--approver", "Ops@Acme.test")
    assert status == 0
    assert out["name"] == "acme"
    assert out["keyName"] == "default"
    assert out["approvers"] == ["ops@acme.test"]
    assert out["tenantId"].startswith("t_") and out["keyId"].startswith("key_") and out["apiKey"].startswith("hitl_")


def test_list_tenants_shows_every_tenant_from_the_index(admin_cli, cloud):
    made = [admin_cli("create-tenant", name, "--approver", f"{name}@x.test")[1] for name in ("one", "two", "three")]
    status, out, _ = admin_cli("list-tenants")
    assert status == 0
    assert [t["name"] for t in out["tenants"]] == ["one", "two", "three"]
    assert [t["tenantId"] for t in out["tenants"]] == [m["tenantId"] for m in made]
    assert set(out["tenants"][0]) == {"tenantId", "name", "createdAt"} and out["more"] is False
    status, out, _ = admin_cli("list-tenants", "--limit", "2")
    assert len(out["tenants"]) == 2 and out["more"] is True


def test_list_tenants_picks_up_an_older_tenant_at_its_next_change(admin_cli, cloud):
    # Given a tenant written before the listing existed (no gsi1pk on its item)
    admin_cli("create-tenant", "old", "--plan", "pro", "--approver", "o@x.test")
    item = {"pk": {"S": next(t["tenantId"] for t in admin_cli("list-tenants")[1]["tenants"])}}
    cloud.client("dynamodb").update_item(
        TableName=cloud.names.table,
        Key={"pk": {"S": f"T#{item['pk']['S']}"}, "sk": {"S": "TENANT"}},
        UpdateExpression="REMOVE gsi1pk, gsi1sk",
    )
    assert admin_cli("list-tenants")[1]["tenants"] == []
    # When the operator changes it, it is listed again
    admin_cli("set-policy", "old", "--no-auto-approve")
    assert [t["name"] for t in admin_cli("list-tenants")[1]["tenants"]] == ["old"]


def test_list_keys_shows_ids_and_last4_never_a_key_or_its_hash(admin_cli, api):
    _, team, _ = admin_cli("create-tenant", "keys", "--plan", "pro", "--approver", "k@x.test")
    _, ci, _ = admin_cli("create-key", "keys", "--name", "ci-agent")
    assert api.get("/api/pause", key=ci["apiKey"]).status == 200  # marks lastUsedAt
    admin_cli("revoke-key", team["keyId"])

    status, out, _ = admin_cli("list-keys", "keys")

    assert status == 0
    assert out["tenantId"] == team["tenantId"]
    shown = {k["keyId"]: k for k in out["keys"]}
    assert set(shown) == {team["keyId"], ci["keyId"]}
    assert shown[team["keyId"]]["revoked"] is True and shown[ci["keyId"]]["revoked"] is False
    assert shown[ci["keyId"]]["name"] == "ci-agent" and shown[ci["keyId"]]["last4"] == ci["apiKey"][-4:]
    assert shown[ci["keyId"]]["lastUsedAt"] is not None
    for key in out["keys"]:
        assert set(key) == {"keyId", "name", "last4", "createdAt", "lastUsedAt", "revoked"}
    text = json.dumps(out)
    assert team["apiKey"] not in text and ci["apiKey"] not in text and "KEY#" not in text


@pytest.mark.parametrize("plan", ["free", "starter", "pro"])
def test_show_tenant_counts_this_months_pauses_on_every_plan(admin_cli, api, plan):
    _, team, _ = admin_cli("create-tenant", f"usage-{plan}", "--plan", plan, "--approver", "u@x.test")
    for n in range(3):
        assert api.post("/api/pause", {"action": f"Deploy {n}"}, key=team["apiKey"]).status == 201
    status, out, _ = admin_cli("show-tenant", f"usage-{plan}")
    assert status == 0
    assert out["usage"]["pauses"] == 3
    assert out["usage"]["limit"] == {"free": 50, "starter": 500, "pro": None}[plan]


def test_every_command_and_argument_has_a_help_line():
    top = cli.parser()
    commands = next(a for a in top._actions if a.dest == "command")
    for choice in commands._choices_actions:
        assert choice.help, choice.dest
    for name, sub in commands.choices.items():
        for action in sub._actions:
            assert action.help, f"{name} {action.dest}"
    assert {"list-tenants", "list-keys"} <= set(commands.choices)


# --- A10: unreachable tables: one line, exit 1 -------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_with_the_local_stack_down_it_says_so_in_one_line(tmp_path: Path, capsys):
    (tmp_path / "local.json").write_text(
        json.dumps({"awsEndpoint": f"http://127.0.0.1:{_free_port()}", "tableName": "hitl-local"})
    )
    status = cli.main(["--local", "--state-dir", str(tmp_path), "show-tenant", "local"])
    out, err = capsys.readouterr()
    assert status == 1 and out == ""
    error = error_of(err)
    assert error["code"] == "local_stack_down" and "make dev" in error["message"]


def test_without_local_json_it_says_so_in_one_line(tmp_path: Path, capsys):
    status = cli.main(["--local", "--state-dir", str(tmp_path / "nowhere"), "list-tenants"])
    out, err = capsys.readouterr()
    assert status == 1 and out == ""
    assert error_of(err)["code"] == "local_stack_down"


def test_a_half_written_local_json_is_one_line(tmp_path: Path, capsys):
    (tmp_path / "local.json").write_text('{"apiUrl": "http://127.0.0.1:3000", ')
    status = cli.main(["--local", "--state-dir", str(tmp_path), "list-tenants"])
    out, err = capsys.readouterr()
    assert status == 1 and out == ""
    assert error_of(err)["code"] == "local_stack_down"


def test_without_aws_credentials_it_says_so_in_one_line(monkeypatch, tmp_path: Path, capsys):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    status = cli.main(["--table", "hitl", "list-tenants"])
    out, err = capsys.readouterr()
    assert status == 1 and out == ""
    assert error_of(err)["code"] == "no_credentials"


def test_an_unreachable_aws_endpoint_is_one_line(monkeypatch, capsys):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{_free_port()}")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    status = cli.main(["--table", "hitl", "list-tenants"])
    out, err = capsys.readouterr()
    assert status == 1 and out == ""
    assert error_of(err)["code"] == "aws_error"


# --- Step 5: members, roles, the owner's invitation ---------------------------------------------


def test_create_tenant_makes_the_first_approver_the_owner(admin_cli):
    status, out, _ = admin_cli(
        "create-tenant", "crew", "--plan", "starter", "--approver", "a@x.test", "--approver", "b@x.test"
    )
    assert status == 0
    assert [(m["email"], m["role"], m["status"]) for m in out["members"]] == [
        ("a@x.test", "owner", "confirmed"),
        ("b@x.test", "approver", "confirmed"),
    ]

    status, listed, _ = admin_cli("list-members", "crew")
    assert status == 0 and listed["name"] == "crew"
    assert [(m["email"], m["role"], m["status"]) for m in listed["members"]] == [
        ("a@x.test", "owner", "confirmed"),
        ("b@x.test", "approver", "confirmed"),
    ]
    assert listed["seats"] == {"plan": "starter", "limit": 3, "used": 2}
    assert all("invitationHash" not in m and "tenantId" not in m for m in listed["members"])


def test_with_sign_up_closed_the_owner_is_emailed_an_invitation(admin_cli, cloud, monkeypatch):
    monkeypatch.setenv("HITL_SIGNUP", "closed")
    status, out, err = admin_cli(
        "create-tenant", "shop", "--owner", "Olga@x.test", "--sender", "HITL <approvals@hitl.local>"
    )
    assert status == 0, err

    assert out["approvers"] == []
    assert [(i["email"], i["role"]) for i in out["invited"]] == [("olga@x.test", "owner")]
    (email,) = cloud.sent_emails()
    assert str(email["To"]) == "olga@x.test" and email["Subject"] == "You are invited to shop on HITL"
    text = email.get_body(preferencelist=("plain",)).get_content()
    assert "The operator of this HITL service invited you" in text and "as an owner" in text
    (token,) = re.findall(r"https://hitl\.example\.test/invite/([A-Za-z0-9_-]{43})", text)
    assert token not in json.dumps(out)  # the token is in the email only
    listed = admin_cli("list-members", "shop")[1]
    assert [(m["email"], m["role"], m["status"]) for m in listed["members"]] == [("olga@x.test", "owner", "invited")]
    assert listed["members"][0]["invitationExpiresAt"] == out["invited"][0]["expiresAt"]
    # no confirmed member yet: nobody could decide a pause
    assert admin_cli("show-tenant", "shop")[1]["approvers"][0]["status"] == "invited"


def test_with_sign_up_open_the_owner_is_added_confirmed(admin_cli, cloud, monkeypatch):
    monkeypatch.setenv("HITL_SIGNUP", "open")
    status, out, _ = admin_cli(
        "create-tenant", "open-shop", "--plan", "starter", "--owner", "olga@x.test", "--approver", "ann@x.test"
    )
    assert status == 0
    assert [(m["email"], m["role"], m["status"]) for m in out["members"]] == [
        ("olga@x.test", "owner", "confirmed"),
        ("ann@x.test", "approver", "confirmed"),
    ]
    assert "invited" not in out and cloud.sent_emails() == []


def test_an_invitation_without_mail_settings_is_refused_before_anything_is_written(admin_cli, monkeypatch):
    monkeypatch.setenv("HITL_SIGNUP", "closed")
    monkeypatch.delenv("PUBLIC_BASE_URL")
    status, out, err = admin_cli("create-tenant", "nomail", "--owner", "olga@x.test")
    assert status == 1 and out is None
    assert error_of(err)["code"] == "no_mail_settings" and "--base-url" in error_of(err)["message"]
    assert admin_cli("list-tenants")[1]["tenants"] == []


def test_the_last_owner_cannot_be_removed_until_another_member_is_an_owner(admin_cli):
    admin_cli("create-tenant", "pair", "--plan", "starter", "--approver", "a@x.test", "--approver", "b@x.test")

    status, out, err = admin_cli("remove-approver", "pair", "a@x.test")
    assert status == 1 and out is None
    error = error_of(err)
    assert error["code"] == "last_owner" and "a@x.test is the last owner of pair" in error["message"]

    status, out, _ = admin_cli("add-approver", "pair", "b@x.test", "--role", "owner")
    assert status == 0 and (out["role"], out["status"]) == ("owner", "confirmed")
    status, out, _ = admin_cli("remove-approver", "pair", "a@x.test")
    assert status == 0 and out["removed"] == "a@x.test" and out["approversLeft"] == 1
    members = admin_cli("list-members", "pair")[1]["members"]
    assert [(m["email"], m["role"]) for m in members] == [("b@x.test", "owner")]


def test_add_approver_adds_a_confirmed_approver_within_the_plan(admin_cli):
    admin_cli("create-tenant", "tiny", "--plan", "free", "--approver", "a@x.test")
    status, out, err = admin_cli("add-approver", "tiny", "b@x.test")
    assert status == 1 and error_of(err)["code"] == "plan_limit"

    admin_cli("set-plan", "tiny", "starter")
    status, out, _ = admin_cli("add-approver", "tiny", "B@x.test")
    assert status == 0 and (out["email"], out["role"], out["status"]) == ("b@x.test", "approver", "confirmed")
    # re-adding keeps the role
    assert admin_cli("add-approver", "tiny", "a@x.test")[1]["role"] == "owner"


def test_the_operator_can_invite_and_re_send_an_expired_invitation(admin_cli, cloud):
    admin_cli("create-tenant", "club", "--plan", "pro", "--approver", "a@x.test")
    mail = ("--sender", "HITL <approvals@hitl.local>")

    status, out, err = admin_cli("invite", "club", "b@x.test", "--role", "owner", *mail)
    assert status == 0, err
    assert (out["invited"], out["role"]) == ("b@x.test", "owner")
    status, again, _ = admin_cli("resend-invitation", "club", "b@x.test", *mail)
    assert status == 0 and again["expiresAt"] >= out["expiresAt"]

    first, second = (e.get_body(preferencelist=("plain",)).get_content() for e in cloud.sent_emails())
    old, new = (re.findall(r"/invite/([A-Za-z0-9_-]{43})", text)[0] for text in (first, second))
    assert old != new
    status, _, err = admin_cli("resend-invitation", "club", "a@x.test", *mail)
    assert status == 1 and error_of(err)["code"] == "no_invitation"
