"""The pause use cases, one module each, composed into the one service the handlers call:

* ``creating``: create a pause (policy within the floor, quota, Idempotency-Key);
* ``reading``: read a pause, and the long-poll;
* ``listing``: the tenant's pauses and audit log, paged;
* ``deciding``: cancel, decide (emailed link or other channel), failed notifications;
* ``sweeping``: timeouts, reminders, republishing unsent events;
* ``reviewing``: the dashboard's reads and decisions.

Who is calling is ``auth``; the shared ports and helpers are in ``base``.
"""

from __future__ import annotations

from hitl.domain.auth import Authenticator, Principal
from hitl.domain.creating import Created, Creating
from hitl.domain.listing import Listing
from hitl.domain.reading import Reading
from hitl.domain.reviewing import Reviewing
from hitl.domain.sweeping import REMINDER_EVENT, Sweeping


class PauseService(Creating, Reading, Listing, Sweeping, Reviewing):
    """Every pause use case over the same ports (``base.UseCase``)."""


__all__ = ["REMINDER_EVENT", "Authenticator", "Created", "PauseService", "Principal"]
