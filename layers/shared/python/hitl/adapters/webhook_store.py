"""Webhook endpoints, callback secrets and the delivery log, in the one table.

(Key formats: ``hitl.adapters.keys``.)

* ``T#<tenant>`` / ``WH#<webhookId>``: an endpoint, its secret KMS-encrypted.
* ``T#<tenant>`` / ``CALLBACK_SECRET``: the tenant's callback secret (and the previous one
  while it rotates), KMS-encrypted.
* ``DLV#<deliveryId>`` / ``DLV``: one delivery attempt; listed per endpoint through the
  ``byTenant`` index (``WD#<webhookId>``) and per pause through ``lookup`` (``PD#<watchId>``).
* ``WHSENT#<messageId>`` / ``SENT``: an event delivered to an endpoint (so a re-published
  event is not delivered twice).
"""

from __future__ import annotations

from typing import Any

from hitl import wiring
from hitl.adapters import keys
from hitl.adapters.pause_repository import DynamoPauses
from hitl.adapters.table import Table
from hitl.webhooks.models import Delivery, Endpoint


class WebhookStore:
    def __init__(self, table: Table, pauses: DynamoPauses) -> None:
        self.table = table
        #: the pauses whose events are delivered (ownership checks, the event of a retry)
        self.pauses = pauses

    # --- endpoints -------------------------------------------------------------------

    def put_endpoint(self, endpoint: Endpoint, secret_cipher: str) -> None:
        self.table.put(
            keys.endpoint(endpoint.tenantId, endpoint.webhookId), {**endpoint.to_json(), "secretCipher": secret_cipher}
        )

    def endpoints(self, tenant_id: str) -> list[tuple[Endpoint, str]]:
        items = self.table.items_of(keys.tenant_pk(tenant_id), keys.WEBHOOK_PREFIX)
        return [(Endpoint.model_validate(i), i["secretCipher"]) for i in items]

    def endpoint(self, tenant_id: str, webhook_id: str) -> tuple[Endpoint, str] | None:
        item = self.table.get(keys.endpoint(tenant_id, webhook_id))
        return (Endpoint.model_validate(item), item["secretCipher"]) if item else None

    def update_endpoint(self, tenant_id: str, webhook_id: str, changes: dict[str, Any]) -> Endpoint | None:
        names = {f"#f{n}": name for n, name in enumerate(changes)}
        updates = ", ".join(f"#f{n} = :v{n}" for n in range(len(changes)))
        updated = self.table.update(
            keys.endpoint(tenant_id, webhook_id),
            f"SET {updates}",
            condition="attribute_exists(pk)",
            names=names,
            returns="ALL_NEW",
            **{f"v{n}": v for n, v in enumerate(changes.values())},
        )
        return Endpoint.model_validate(updated) if updated is not None else None

    def delete_endpoint(self, tenant_id: str, webhook_id: str) -> bool:
        return self.table.delete(keys.endpoint(tenant_id, webhook_id))

    # --- callback secrets ----------------------------------------------------------------

    def callback_secret(self, tenant_id: str) -> dict[str, Any] | None:
        return self.table.get(keys.callback_secret(tenant_id))

    def put_callback_secret(self, tenant_id: str, values_: dict[str, Any], expected_current: str | None) -> bool:
        """Write the callback secrets only if the current one is still ``expected_current``
        (two rotations at once: one wins)."""
        key = keys.callback_secret(tenant_id)
        if expected_current is None:
            return self.table.put(key, values_, "attribute_not_exists(pk)")
        return self.table.put(key, values_, "currentCipher = :expected", expected=expected_current)

    # --- deliveries --------------------------------------------------------------------------

    def log_delivery(self, delivery: Delivery, ttl: int) -> None:
        item = delivery.to_json()
        item.update(
            gsi1pk=keys.deliveries_of_endpoint(delivery.webhookId, delivery.tenantId),
            gsi1sk=keys.list_sort(delivery.at, delivery.deliveryId),
            lookupPk=keys.deliveries_of_pause(delivery.watchId),
            lookupSk=keys.list_sort(delivery.at, delivery.deliveryId),
            ttl=ttl,
        )
        self.table.put(keys.delivery(delivery.deliveryId), item)

    def delivery(self, delivery_id: str) -> Delivery | None:
        item = self.table.get(keys.delivery(delivery_id))
        return Delivery.model_validate(item) if item else None

    def deliveries_of_endpoint(self, tenant_id: str, webhook_id: str, limit: int) -> list[Delivery]:
        """The endpoint's latest deliveries, newest first."""
        page = self.table.query(
            index=wiring.BY_TENANT.name,
            key_condition="gsi1pk = :gpk",
            limit=limit,
            forward=False,
            gpk=keys.deliveries_of_endpoint(webhook_id, tenant_id),
        )
        return [Delivery.model_validate({"tenantId": tenant_id, **item}) for item in page.items]

    def deliveries_of_pause(self, watch_id: str) -> list[Delivery]:
        page = self.table.query(
            index=wiring.LOOKUP.name,
            key_condition="lookupPk = :lpk",
            forward=False,
            lpk=keys.deliveries_of_pause(watch_id),
        )
        return [Delivery.model_validate(i) for i in page.items]

    def was_delivered(self, message_id: str) -> bool:
        return self.table.get(keys.delivered(message_id)) is not None

    def mark_delivered(self, message_id: str, ttl: int) -> None:
        self.table.put(keys.delivered(message_id), {"ttl": ttl})
