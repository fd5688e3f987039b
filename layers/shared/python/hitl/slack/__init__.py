"""Slack (Pro): the Web API client (``client``), the app's secrets from SSM (``secrets``) and the
Block Kit of the approvers' DMs (``blocks``).  ``slack_sdk`` is imported only inside the calls that
use it: a function that never talks to Slack never pays for it."""
