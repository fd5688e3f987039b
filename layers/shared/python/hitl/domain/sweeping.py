"""The sweeper: overdue pending pauses reach their timeout outcome, due reminders go out, and
outbox events left unsent are republished.  It reads only the due index, never a Scan."""

from __future__ import annotations

from datetime import timedelta

from hitl import timeutil
from hitl.domain import rules
from hitl.domain.deciding import Deciding

#: the internal event that has the notifier remind approvers who have not decided (once)
REMINDER_EVENT = "pause.reminder_due"
#: how long an outbox event may stay unsent before the sweeper republishes it
REPUBLISH_AFTER = timedelta(seconds=30)


class Sweeping(Deciding):
    def sweep(self) -> dict[str, int]:
        now = self.clock()
        at = timeutil.iso(now)
        expired = reminded = republished = 0
        for watch_id in self.pauses.due_pauses(at):
            head = self.pauses.get_head(watch_id)
            if head is None or head.status != "pending":
                continue
            if rules.is_overdue(head, now):
                if self._transition(head, rules.timed_out(head), "timeout", "timeout", now, overdue=True):
                    expired += 1
            elif head.remindAt and not head.reminded and head.remindAt <= at:
                remind = head.model_copy(update={"reminded": True, "version": head.version + 1})
                if self._transition(head, remind, "system", "email", now, overdue=False, event_type=REMINDER_EVENT):
                    reminded += 1
        for event in self.pauses.unsent_events(timeutil.iso(now - REPUBLISH_AFTER)):
            if self.publisher.publish([event])[0]:
                self.pauses.mark_event_sent(event.data["watchId"], event.eventId)
                republished += 1
        return {"expired": expired, "republished": republished, "reminded": reminded}
