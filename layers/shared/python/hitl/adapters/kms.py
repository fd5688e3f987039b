"""Secrets encrypted at rest under the service's KMS key, each bound to its tenant (and, when
given, to what it is) by the encryption context: a ciphertext copied to another tenant's item,
or from a webhook secret to a Slack token, does not decrypt."""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mypy_boto3_kms import KMSClient

#: the encryption context's ``purpose`` of a Slack bot token
SLACK_BOT_TOKEN = "slack-bot-token"  # noqa: S105 (a name, not a token)


class KmsCrypto:
    """Encrypts secrets under the service's KMS key, bound to the tenant by encryption context
    (webhook and callback secrets: the tenant only, as they were first written; others also
    name their ``purpose``)."""

    def __init__(self, client: KMSClient, key_id: str, purpose: str | None = None) -> None:
        self.client = client
        self.key_id = key_id
        self.purpose = purpose

    def _context(self, tenant_id: str) -> dict[str, str]:
        context = {"tenantId": tenant_id}
        if self.purpose is not None:
            context["purpose"] = self.purpose
        return context

    def encrypt(self, tenant_id: str, plaintext: str) -> str:
        answer = self.client.encrypt(
            KeyId=self.key_id, Plaintext=plaintext.encode(), EncryptionContext=self._context(tenant_id)
        )
        return base64.b64encode(answer["CiphertextBlob"]).decode()

    def decrypt(self, tenant_id: str, ciphertext: str) -> str:
        answer = self.client.decrypt(
            CiphertextBlob=base64.b64decode(ciphertext), EncryptionContext=self._context(tenant_id)
        )
        return answer["Plaintext"].decode()
