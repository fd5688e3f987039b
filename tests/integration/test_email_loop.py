"""pause.created → the notifier → one email per approver → the link's page → the decision."""

from __future__ import annotations

import re

import pytest

from hitl import runtime


def links_of(email):
    text = email.get_body(preferencelist=("plain",)).get_content()
    return re.findall(r"https?://\S+/a/[A-Za-z0-9_-]{43}/(?:approve|reject|view)", text)


def test_exactly_one_email_per_approver_with_both_links_and_a_text_part(cloud, team, make_notified_pause):
    watch_id = make_notified_pause(team, action="Deploy v2", context={"env": "prod"})
    emails = cloud.sent_emails()
    assert sorted(str(e["To"]) for e in emails) == ["ann@x.test", "bob@x.test"]
    for email in emails:
        assert email["Subject"] == "Approval needed: Deploy v2"
        assert email["X-HITL-Watch-Id"] == watch_id
        text = email.get_body(preferencelist=("plain",)).get_content()
        html = email.get_body(preferencelist=("html",)).get_content()
        assert "Deploy v2" in text and '"env": "prod"' in text
        assert "Deploy v2" in html and "&#34;env&#34;: &#34;prod&#34;" in html
        found = links_of(email)
        assert [link.rsplit("/", 1)[1] for link in found] == ["approve", "reject", "view"]
        assert all(link.startswith("https://hitl.example.test/a/") for link in found)
    tokens = {links_of(e)[0].split("/")[-2] for e in emails}
    assert len(tokens) == 2  # each approver has a token of their own


def test_a_redelivered_work_item_sends_no_second_email(api, cloud, team, make_notified_pause):
    make_notified_pause(team)
    notifier = runtime.notifier()
    work = {"eventId": "evt_x", "watchId": "w_x", "to": "ann@x.test", "kind": "request"}
    assert notifier.deliver(work).status == "skipped"  # no such pause
    sent = cloud.sent_emails()
    first = sent[0]
    # the same (event, approver) again, as SQS may deliver it twice
    event_id = api.get("/api/audit", key=team["apiKey"]).json()["items"][-1]
    assert event_id  # the pause's created entry exists
    items = [i for i in cloud.items() if i["pk"]["S"].startswith("NOTIFY#")]
    assert len(items) == 2 and {i["status"]["S"] for i in items} == {"sent"}
    replay = {"eventId": items[0]["pk"]["S"][7:], "watchId": first["X-HITL-Watch-Id"], "to": items[0]["sk"]["S"]}
    assert notifier.deliver(replay).status == "duplicate"
    assert len(cloud.sent_emails()) == 2


def test_a_pause_no_longer_pending_sends_nothing(api, cloud, team, make_pause):
    created = make_pause(team)
    api.post(f"/api/pause/{created['watchId']}/cancel", key=team["apiKey"])
    cloud.run_queue("notify")
    cloud.run_queue("email")
    assert cloud.sent_emails() == []


def test_a_failing_send_is_retried_and_never_lost(api, cloud, team, monkeypatch, pause_request):
    notifier = runtime.notifier()
    real = notifier.mailer.send
    calls = []

    def flaky(to, message):
        calls.append(to)
        if len(calls) <= 2:
            raise ConnectionError("SES is having a moment")
        return real(to, message)

    monkeypatch.setattr(notifier.mailer, "send", flaky)
    delays = []
    real_delay = runtime.email_queue().delay

    def retry_now(handle, seconds):  # record the delay asked for, retry at once
        delays.append(seconds)
        real_delay(handle, 0)

    monkeypatch.setattr(runtime.email_queue(), "delay", retry_now)
    created = pause_request(team)
    assert cloud.run_queue("notify") == 1
    assert cloud.run_queue("email") == 0  # both failed: they stay in the queue
    assert delays == [10, 10]  # first retry after 10 s, growing with each attempt
    assert cloud.run_queue("email") == 2
    assert sorted(str(e["To"]) for e in cloud.sent_emails()) == ["ann@x.test", "bob@x.test"]
    assert created.status == 201


def test_a_permanent_failure_reaches_the_pause_and_an_event(api, cloud, team, monkeypatch, make_pause):
    from hitl import wiring

    email_queue = next(s for s in wiring.SUBSCRIPTIONS if s.name == "email")
    notifier = runtime.notifier()
    monkeypatch.setattr(notifier.mailer, "send", lambda to, message: (_ for _ in ()).throw(OSError("bounce")))
    monkeypatch.setattr(runtime.email_queue(), "delay", lambda handle, seconds: None)
    watch_id = make_pause(team)["watchId"]
    cloud.run_queue("notify")
    sqs = cloud.client("sqs")
    url = cloud.names.queues["email"]
    for _ in range(email_queue.max_receive_count):
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": "0"})
        cloud.run_queue("email")
    pause = api.get(f"/api/pause/{watch_id}", key=team["apiKey"]).json()
    assert pause["status"] == "pending"
    assert sorted(n["to"] for n in pause["notifications"]) == ["ann@x.test", "bob@x.test"]
    assert {n["status"] for n in pause["notifications"]} == {"failed"}
    types = [e["detail-type"] for e in cloud.events()]
    assert types.count("pause.notification_failed") == 2
    assert cloud.run_queue("email") == 0  # past maxReceiveCount SQS moves them on
    dead = sqs.receive_message(QueueUrl=cloud.names.dead_letter_queues["email"], MaxNumberOfMessages=10)
    assert len(dead.get("Messages", [])) == 2


# --- the link pages -----------------------------------------------------------------------


def form(decision, comment=""):
    from urllib.parse import urlencode

    return urlencode({"decision": decision, "comment": comment}).encode()


FORM = {"content-type": "application/x-www-form-urlencoded"}
SCANNERS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/126 Safari/537.36",
    "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17126; Pro)",
    "Mozilla/5.0 (compatible; BingPreview/1.0b) SafeLinks",
]


def test_get_and_head_never_decide(api, cloud, team, make_notified_pause):
    watch_id = make_notified_pause(team)
    approve, reject, view = links_of(cloud.sent_emails()[0])
    for link in (approve, reject, view):
        path = "/" + link.split("/", 3)[3]
        for agent in SCANNERS:
            for method in ("GET", "HEAD"):
                page = api.call(method, path, headers={"user-agent": agent})
                assert page.status == 200
                assert page.headers["cache-control"] == "no-store"
                assert page.headers["referrer-policy"] == "no-referrer"
                assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert api.get(f"/api/pause/{watch_id}", key=team["apiKey"]).json()["status"] == "pending"


def test_the_confirm_page_puts_the_chosen_decision_first(api, cloud, team, make_notified_pause):
    make_notified_pause(team, action="Deploy v2")
    approve, reject, _ = links_of(cloud.sent_emails()[0])
    approve_page = api.get("/" + approve.split("/", 3)[3]).body.decode()
    assert approve_page.index("Confirm: Approve") < approve_page.index("Reject instead")
    reject_page = api.get("/" + reject.split("/", 3)[3]).body.decode()
    assert reject_page.index("Confirm: Reject") < reject_page.index("Approve instead")
    assert "Deploy v2" in approve_page and "<script" not in approve_page


def test_the_form_decides_as_that_approver_with_the_comment(api, cloud, team, make_notified_pause):
    watch_id = make_notified_pause(team)
    email = next(e for e in cloud.sent_emails() if str(e["To"]) == "bob@x.test")
    token = links_of(email)[0].split("/")[-2]
    answer = api.post(f"/a/{token}", raw=form("approved", "looks fine"), headers=FORM)
    assert answer.status == 200
    assert "Recorded: approved" in answer.body.decode()
    pause = api.get(f"/api/pause/{watch_id}", key=team["apiKey"]).json()
    assert pause["status"] == "approved"
    assert pause["decision"] == {
        "outcome": "approved",
        "by": "bob@x.test",
        "channel": "email",
        "comment": "looks fine",
        "at": pause["decidedAt"],
    }
    again = api.post(f"/a/{token}", raw=form("rejected"), headers=FORM)
    assert again.status == 409
    assert "bob@x.test" in again.body.decode()
    other = next(e for e in cloud.sent_emails() if str(e["To"]) == "ann@x.test")
    shown = api.get("/" + links_of(other)[1].split("/", 3)[3])
    assert shown.status == 409 and "approved" in shown.body.decode() and "bob@x.test" in shown.body.decode()
    assert api.get(f"/api/pause/{watch_id}", key=team["apiKey"]).json()["status"] == "approved"


@pytest.mark.parametrize(
    "headers",
    [{"origin": "https://evil.test"}, {"sec-fetch-site": "cross-site"}, {"origin": "null"}],
)
def test_a_cross_site_post_is_refused(api, cloud, team, headers, make_notified_pause):
    watch_id = make_notified_pause(team)
    token = links_of(cloud.sent_emails()[0])[0].split("/")[-2]
    refused = api.post(f"/a/{token}", raw=form("approved"), headers={**FORM, **headers})
    assert refused.status == 403
    assert api.get(f"/api/pause/{watch_id}", key=team["apiKey"]).json()["status"] == "pending"
    ours = api.post(
        f"/a/{token}",
        raw=form("approved"),
        headers={**FORM, "origin": "https://hitl.example.test", "sec-fetch-site": "same-origin"},
    )
    assert ours.status == 200


def test_a_same_origin_post_with_a_null_origin_is_accepted(api, cloud, team, make_notified_pause):
    # Chromium sends Origin: null from a no-referrer page, and says same-origin in Sec-Fetch-Site
    watch_id = make_notified_pause(team)
    token = links_of(cloud.sent_emails()[0])[0].split("/")[-2]
    answer = api.post(
        f"/a/{token}", raw=form("approved"), headers={**FORM, "origin": "null", "sec-fetch-site": "same-origin"}
    )
    assert answer.status == 200
    assert api.get(f"/api/pause/{watch_id}", key=team["apiKey"]).json()["status"] == "approved"


def test_unknown_and_expired_links_say_why(api, cloud, team, monkeypatch, make_notified_pause):
    unknown = api.get("/a/" + "A" * 43 + "/approve")
    assert unknown.status == 404 and "not valid" in unknown.body.decode()
    watch_id = make_notified_pause(team, timeoutSeconds=60)
    token = links_of(cloud.sent_emails()[0])[0].split("/")[-2]
    from hitl import timeutil

    later = timeutil.parse(cloud.store.pauses.get_head(watch_id).expiresAt)
    monkeypatch.setattr(runtime.services().pauses, "clock", lambda: later)
    expired = api.post(f"/a/{token}", raw=form("approved"), headers=FORM)
    assert expired.status == 410 and "expired" in expired.body.decode()
    assert cloud.store.pauses.get_head(watch_id).status == "pending"  # stored pending; reads expired
