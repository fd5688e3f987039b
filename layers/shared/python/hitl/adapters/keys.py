"""Every key format of the single table, in one place.  Nothing outside ``hitl.adapters`` sees one.

Items (pk / sk):

* ``P#<watchId>`` / ``P#HEAD``: the pause head (status, version, decision, …), in the tenant list
  index (``TP#<tenant>``) and, while pending, in the due index (``EXP#n``).
* ``P#<watchId>`` / ``P#BODY``: action, context (as JSON text), metadata.
* ``P#<watchId>`` / ``A#<at>#<auditId>``: a pause's audit entries, in the audit log index
  (``AL#<tenant>``, sort ``<at>#<auditId>``); entries written before that index were listed via
  ``TA#<tenant>`` in ``byTenant``.
* ``TLOG#<tenant>`` / ``A#<at>#<auditId>``: the team's audit entries (also in ``AL#<tenant>``);
  ``TLOG#<tenant>`` / ``HEAD``: the head of the team's hash chain (the newest entry's hash).
* ``P#<watchId>`` / ``E#<eventId>``: outbox events, in the due index (``OUT#n``) until sent.
* ``T#<tenant>`` / ``TENANT`` (listed via ``TENANTS``), ``APPROVER#<email>``, ``QUOTA#<yyyy-mm>``, ``WAITS``,
  ``WH#<webhookId>``, ``CALLBACK_SECRET``.
* ``T#<tenant>`` / ``APPROVER#<email>``: a member (owner or approver), found among a person's
  teams via the lookup index (``PERSON#<email>`` / ``<tenantId>``).
* ``INVITE#<sha256>`` / ``INVITE``: an invitation to a team, by the hash of its token.
* ``KEY#<sha256>`` / ``KEY``: an API key, found by its public id via ``KEYID#<keyId>``, listed per
  tenant via ``TK#<tenant>``.
* ``IDEM#<tenant>#<sha256>`` / ``IDEM``: an Idempotency-Key claim.
* ``TOK#<sha256>`` / ``TOK``: an approver's emailed link token.
* ``NOTIFY#<eventId>`` / ``<email>``: the sending of one email (claimed once).
* ``SESMSG#<SES message id>`` / ``SESMSG``: which pause and approver an email was for.
* ``DLV#<deliveryId>`` / ``DLV``: one webhook delivery attempt, listed per endpoint (``WD#…``)
  and per pause (lookup ``PD#<watchId>``); ``WHSENT#<messageId>`` / ``SENT``: delivered once.
* ``CONFIG`` / ``CURSOR_SECRET``: the secret that signs list cursors.
* ``SESSION#<sha256>`` / ``SESSION``: a dashboard session, listed per person via the lookup index
  (``SESSIONS#<email>``).
* ``LOGIN#<sha256>`` / ``LOGIN``: an emailed sign-in link (and its code).
* ``RATE#<what>#<sha256 of who>#<window>`` / ``RATE``: a rate-limit counter (TTL).
* ``T#<tenant>`` / ``SLACK``: the tenant's connected Slack workspace (its bot token KMS-encrypted).
* ``SLACKTEAM#<teamId>`` / ``SLACKTEAM``: which tenant a Slack team is connected to (the
  interactivity lookup; one tenant per team, claimed in the connect transaction).
* ``P#<watchId>`` / ``SLACK#<email>#<ts>``: a DM sent to an approver about the pause (channel, ts),
  to update it once the pause is decided.
* ``SLACKSTATE#<sha256>`` / ``SLACKSTATE``: an OAuth install under way, by the hash of its state (TTL).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

from hitl import wiring


@dataclass(frozen=True)
class Key:
    pk: str
    sk: str

    def as_dict(self) -> dict[str, str]:
        return {wiring.TABLE_PK: self.pk, wiring.TABLE_SK: self.sk}


# --- pauses ---------------------------------------------------------------------------

PAUSE_PREFIX = "P#"
HEAD = "P#HEAD"
BODY = "P#BODY"
AUDIT_PREFIX = "A#"
EVENT_PREFIX = "E#"


def pause_pk(watch_id: str) -> str:
    return f"P#{watch_id}"


def head(watch_id: str) -> Key:
    return Key(pause_pk(watch_id), HEAD)


def body(watch_id: str) -> Key:
    return Key(pause_pk(watch_id), BODY)


def audit(watch_id: str, at: str, audit_id: str) -> Key:
    return Key(pause_pk(watch_id), f"{AUDIT_PREFIX}{at}#{audit_id}")


def event(watch_id: str, event_id: str) -> Key:
    return Key(pause_pk(watch_id), f"{EVENT_PREFIX}{event_id}")


def idempotency(tenant_id: str, key_hash: str) -> Key:
    return Key(f"IDEM#{tenant_id}#{key_hash}", "IDEM")


# --- the audit log (auditLog index) -----------------------------------------------------------


def audit_log_of(tenant_id: str) -> str:
    return f"AL#{tenant_id}"


def audit_log_sort(at: str, audit_id: str) -> str:
    return f"{at}#{audit_id}"


def team_log_pk(tenant_id: str) -> str:
    return f"TLOG#{tenant_id}"


def team_audit(tenant_id: str, at: str, audit_id: str) -> Key:
    return Key(team_log_pk(tenant_id), f"{AUDIT_PREFIX}{at}#{audit_id}")


def team_chain_head(tenant_id: str) -> Key:
    return Key(team_log_pk(tenant_id), "HEAD")


def audit_log_position(item: dict[str, str]) -> dict[str, str]:
    """Where a page of the audit log stops (what ExclusiveStartKey takes)."""
    names = (wiring.TABLE_PK, wiring.TABLE_SK, wiring.AUDIT_LOG.pk, wiring.AUDIT_LOG.sk)
    return {name: item[name] for name in names}


# --- the per-tenant lists (byTenant index) ------------------------------------------------


def pauses_of(tenant_id: str) -> str:
    return f"TP#{tenant_id}"


def keys_of(tenant_id: str) -> str:
    return f"TK#{tenant_id}"


def deliveries_of_endpoint(webhook_id: str, tenant_id: str) -> str:
    """Callback deliveries have no endpoint id of their own: they are listed per tenant."""
    return f"WD#{webhook_id}" if webhook_id != "callback" else f"WD#callback#{tenant_id}"


def list_position(item: dict[str, str]) -> dict[str, str]:
    """Where a list page stops: the item's table and index keys (what ExclusiveStartKey takes)."""
    return {name: item[name] for name in (wiring.TABLE_PK, wiring.TABLE_SK, wiring.BY_TENANT.pk, wiring.BY_TENANT.sk)}


def list_sort(at: str, identifier: str) -> str:
    return f"{at}#{identifier}"


# --- the due index (sparse, sharded) ---------------------------------------------------------

EXPIRY_SHARDS = "EXP"
OUTBOX_SHARDS = "OUT"


def shard_of(identifier: str) -> int:
    return zlib.crc32(identifier.encode()) % wiring.DUE_SHARDS


def due_shard(prefix: str, identifier: str) -> str:
    return f"{prefix}#{shard_of(identifier)}"


def due_sort(at: str, identifier: str) -> str:
    return f"{at}#{identifier}"


def due_bound(until: str) -> str:
    """The sort-key bound of everything due at or before ``until``: "$" sorts just after the "#"
    that ends the time."""
    return until + "$"


# --- tenants, approvers, keys, waits ------------------------------------------------------------

TENANT = "TENANT"
APPROVER_PREFIX = "APPROVER#"


def tenant_pk(tenant_id: str) -> str:
    return f"T#{tenant_id}"


def tenant(tenant_id: str) -> Key:
    return Key(tenant_pk(tenant_id), TENANT)


#: every tenant, in the ``byTenant`` index (sort key ``<createdAt>#<tenantId>``): ``list-tenants``
TENANT_LIST = "TENANTS"


def tenant_name(name: str) -> str:
    """The lookup index key of a tenant's name."""
    return f"TENANTNAME#{name}"


def approver(tenant_id: str, email: str) -> Key:
    return Key(tenant_pk(tenant_id), f"{APPROVER_PREFIX}{email}")


def person(email: str) -> str:
    """The lookup index key of a person's memberships (its sort key: the tenant id)."""
    return f"PERSON#{email}"


def invitation(token_hash: str) -> Key:
    return Key(f"INVITE#{token_hash}", "INVITE")


def quota(tenant_id: str, month: str) -> Key:
    return Key(tenant_pk(tenant_id), f"QUOTA#{month}")


def waits(tenant_id: str) -> Key:
    return Key(tenant_pk(tenant_id), "WAITS")


def api_key(key_hash: str) -> Key:
    return Key(f"KEY#{key_hash}", "KEY")


def key_id(key_id_: str) -> str:
    """The lookup index key of an API key's public id."""
    return f"KEYID#{key_id_}"


# --- link tokens, notifications ---------------------------------------------------------------


def link_token(token_hash: str) -> Key:
    return Key(f"TOK#{token_hash}", "TOK")


def notification(event_id: str, to: str) -> Key:
    return Key(f"NOTIFY#{event_id}", to)


def sent_message(message_id: str) -> Key:
    return Key(f"SESMSG#{message_id}", "SESMSG")


# --- webhooks -------------------------------------------------------------------------------------

WEBHOOK_PREFIX = "WH#"


def endpoint(tenant_id: str, webhook_id: str) -> Key:
    return Key(tenant_pk(tenant_id), f"{WEBHOOK_PREFIX}{webhook_id}")


def callback_secret(tenant_id: str) -> Key:
    return Key(tenant_pk(tenant_id), "CALLBACK_SECRET")


def delivery(delivery_id: str) -> Key:
    return Key(f"DLV#{delivery_id}", "DLV")


def deliveries_of_pause(watch_id: str) -> str:
    """The lookup index key of a pause's deliveries."""
    return f"PD#{watch_id}"


def delivered(message_id: str) -> Key:
    return Key(f"WHSENT#{message_id}", "SENT")


# --- configuration ---------------------------------------------------------------------------------

CURSOR_SECRET = Key("CONFIG", "CURSOR_SECRET")


# --- people: sessions, sign-in links, rate limits --------------------------------------------


def session(secret_hash: str) -> Key:
    return Key(f"SESSION#{secret_hash}", "SESSION")


def sessions_of(email: str) -> str:
    """The lookup index key of a person's sessions."""
    return f"SESSIONS#{email}"


def login_link(token_hash: str) -> Key:
    return Key(f"LOGIN#{token_hash}", "LOGIN")


def rate_counter(what: str, who_hash: str, window: int) -> Key:
    return Key(f"RATE#{what}#{who_hash}#{window}", "RATE")


# --- Slack ------------------------------------------------------------------------------------

SLACK_MESSAGE_PREFIX = "SLACK#"


def slack_workspace(tenant_id: str) -> Key:
    return Key(tenant_pk(tenant_id), "SLACK")


def slack_team(team_id: str) -> Key:
    return Key(f"SLACKTEAM#{team_id}", "SLACKTEAM")


def slack_message(watch_id: str, email: str, ts: str) -> Key:
    return Key(pause_pk(watch_id), f"{SLACK_MESSAGE_PREFIX}{email}#{ts}")


def slack_install_state(state_hash: str) -> Key:
    return Key(f"SLACKSTATE#{state_hash}", "SLACKSTATE")
