"""The CDK app of HITL: one stack, one construct per capability, built from ``hitl.wiring``."""
