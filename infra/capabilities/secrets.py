"""The service's KMS key: it encrypts the secrets the service must be able to read back (webhook
endpoint secrets, each tenant's callback secret), bound to their tenant by encryption context.

Customer managed, so that its use is the stack's own decision: yearly automatic rotation (old
key material keeps decrypting what it encrypted), and retained when the stack is deleted — a
deleted key would make every stored secret unreadable.  Functions get it through their
``kms:use`` need (``infra.capabilities.functions``): encrypt and decrypt with this key only.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_kms as kms
from constructs import Construct

from hitl import wiring


class Secrets(Construct):
    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.key = kms.Key(
            self,
            "Key",
            description=wiring.KMS_KEY_DESCRIPTION,
            enable_key_rotation=True,
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
