"""cdk-nag 3.x acknowledgements: every one names its finding exactly and says why."""

from __future__ import annotations

import aws_cdk as cdk
from constructs import IConstruct

#: The rule pack the app runs (``AwsSolutionsChecks``); its findings are ``AwsSolutions::AwsSolutions-<rule>``.
PACK = "AwsSolutions"


def acknowledge(scope: IConstruct, rule: str, reason: str) -> None:
    """Acknowledge one finding (``"IAM5[Resource::*]"``, ``"L1"``…) on ``scope`` and its children."""
    if len(reason) < 40:
        raise ValueError(f"say why {rule} is acceptable here, specifically")
    cdk.Validations.of(scope).acknowledge(cdk.Acknowledgment(id=f"{PACK}::{PACK}-{rule}", reason=reason))
