"""Webhook endpoints, callback secrets and the delivery log, in the one table.

* ``T#<tenant>`` / ``WH#<webhookId>``: an endpoint, its secret KMS-encrypted.
* ``T#<tenant>`` / ``CALLBACK_SECRET``: the tenant's callback secret (and the previous one
  while it rotates), KMS-encrypted.
* ``DLV#<deliveryId>`` / ``DLV``: one delivery attempt; listed per endpoint through the
  ``byTenant`` index (``WD#<webhookId>``) and per pause through ``lookup`` (``PD#<watchId>``).
* ``WHSENT#<messageId>`` / ``SENT``: an event delivered to an endpoint (so a re-published
  event is not delivered twice).
"""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from hitl import wiring
from hitl.adapters.dynamo import DynamoStore, Page, from_item, to_item, values
from hitl.webhooks.models import Delivery, Endpoint

if TYPE_CHECKING:
    from mypy_boto3_kms import KMSClient


class KmsCrypto:
    """Encrypts secrets under the service's KMS key, bound to the tenant by encryption context."""

    def __init__(self, client: KMSClient, key_id: str) -> None:
        self.client = client
        self.key_id = key_id

    def encrypt(self, tenant_id: str, plaintext: str) -> str:
        answer = self.client.encrypt(
            KeyId=self.key_id, Plaintext=plaintext.encode(), EncryptionContext={"tenantId": tenant_id}
        )
        return base64.b64encode(answer["CiphertextBlob"]).decode()

    def decrypt(self, tenant_id: str, ciphertext: str) -> str:
        answer = self.client.decrypt(
            CiphertextBlob=base64.b64decode(ciphertext), EncryptionContext={"tenantId": tenant_id}
        )
        return answer["Plaintext"].decode()


class WebhookStore:
    def __init__(self, store: DynamoStore) -> None:
        self.base = store
        self.client = store.client
        self.table = store.table

    # --- endpoints -------------------------------------------------------------------

    def put_endpoint(self, endpoint: Endpoint, secret_cipher: str) -> None:
        item = {**endpoint.to_json(), "pk": f"T#{endpoint.tenantId}", "sk": f"WH#{endpoint.webhookId}"}
        item["secretCipher"] = secret_cipher
        self.client.put_item(TableName=self.table, Item=to_item(item))

    def endpoints(self, tenant_id: str) -> list[tuple[Endpoint, str]]:
        page = self.base.query(
            key_condition="pk = :pk AND begins_with(sk, :prefix)",
            consistent=True,
            pk=f"T#{tenant_id}",
            prefix="WH#",
        )
        return [(Endpoint.model_validate(i), i["secretCipher"]) for i in page.items]

    def endpoint(self, tenant_id: str, webhook_id: str) -> tuple[Endpoint, str] | None:
        item = self.base._get(f"T#{tenant_id}", f"WH#{webhook_id}")
        return (Endpoint.model_validate(item), item["secretCipher"]) if item else None

    def update_endpoint(self, tenant_id: str, webhook_id: str, changes: dict[str, Any]) -> Endpoint | None:
        names = {f"#f{n}": name for n, name in enumerate(changes)}
        updates = ", ".join(f"#f{n} = :v{n}" for n in range(len(changes)))
        try:
            answer = self.client.update_item(
                TableName=self.table,
                Key=to_item({"pk": f"T#{tenant_id}", "sk": f"WH#{webhook_id}"}),
                UpdateExpression=f"SET {updates}",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values(**{f"v{n}": v for n, v in enumerate(changes.values())}),
                ReturnValues="ALL_NEW",
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return None
            raise
        return Endpoint.model_validate(from_item(answer["Attributes"]))

    def delete_endpoint(self, tenant_id: str, webhook_id: str) -> bool:
        return self.base._delete(f"T#{tenant_id}", f"WH#{webhook_id}")

    # --- callback secrets ----------------------------------------------------------------

    def callback_secret(self, tenant_id: str) -> dict[str, Any] | None:
        return self.base._get(f"T#{tenant_id}", "CALLBACK_SECRET")

    def put_callback_secret(self, tenant_id: str, values_: dict[str, Any], expected_current: str | None) -> bool:
        """Write the callback secrets only if the current one is still ``expected_current``
        (two rotations at once: one wins)."""
        request: dict[str, Any] = {
            "TableName": self.table,
            "Item": to_item({**values_, "pk": f"T#{tenant_id}", "sk": "CALLBACK_SECRET"}),
            "ConditionExpression": "attribute_not_exists(pk)",
        }
        if expected_current is not None:
            request["ConditionExpression"] = "currentCipher = :expected"
            request["ExpressionAttributeValues"] = values(expected=expected_current)
        try:
            self.client.put_item(**request)
            return True
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise

    # --- deliveries --------------------------------------------------------------------------

    def log_delivery(self, delivery: Delivery, ttl: int) -> None:
        item = delivery.to_json()
        item.update(
            pk=f"DLV#{delivery.deliveryId}",
            sk="DLV",
            gsi1pk=f"WD#{delivery.webhookId if delivery.webhookId != 'callback' else 'callback#' + delivery.tenantId}",
            gsi1sk=f"{delivery.at}#{delivery.deliveryId}",
            lookupPk=f"PD#{delivery.watchId}",
            lookupSk=f"{delivery.at}#{delivery.deliveryId}",
            ttl=ttl,
        )
        self.client.put_item(TableName=self.table, Item=to_item(item))

    def delivery(self, delivery_id: str) -> Delivery | None:
        item = self.base._get(f"DLV#{delivery_id}", "DLV")
        return Delivery.model_validate(item) if item else None

    def deliveries_of_endpoint(self, webhook_id: str, start: dict[str, str] | None, limit: int) -> Page:
        return self.base.list_index(f"WD#{webhook_id}", start_key=start, page_size=limit)

    def deliveries_of_pause(self, watch_id: str) -> list[Delivery]:
        page = self.base.query(
            index=wiring.LOOKUP.name, key_condition="lookupPk = :lpk", forward=False, lpk=f"PD#{watch_id}"
        )
        return [Delivery.model_validate(i) for i in page.items]

    def was_delivered(self, message_id: str) -> bool:
        return self.base._get(f"WHSENT#{message_id}", "SENT") is not None

    def mark_delivered(self, message_id: str, ttl: int) -> None:
        self.client.put_item(
            TableName=self.table, Item=to_item({"pk": f"WHSENT#{message_id}", "sk": "SENT", "ttl": ttl})
        )
