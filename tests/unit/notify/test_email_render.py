from email import message_from_bytes, policy

from hitl import timeutil
from hitl.notify.render import Links, approval_email, describe_time, page, pretty_context

LINKS = Links(
    approve="https://hitl.example.test/a/" + "t" * 43 + "/approve",
    reject="https://hitl.example.test/a/" + "t" * 43 + "/reject",
    page="https://hitl.example.test/a/" + "t" * 43 + "/view",
)


def pause(action="Deploy", context=None, requested_by="deploy-bot"):
    return {
        "watchId": "w_1",
        "status": "pending",
        "action": action,
        "requestedBy": requested_by,
        "createdAt": "2026-11-24T12:00:00.000Z",
        "expiresAt": timeutil.iso(timeutil.now() + timeutil.timedelta(hours=3)),
        "context": context if context is not None else {"env": "prod"},
        "metadata": {},
    }


def parts(message):
    parsed = message_from_bytes(message.as_bytes(), policy=policy.default)
    return (
        parsed,
        parsed.get_body(preferencelist=("plain",)).get_content(),
        parsed.get_body(preferencelist=("html",)).get_content(),
    )


def test_script_in_action_and_context_is_escaped_in_html_and_kept_as_text():
    hostile = "<script>alert('x')</script>"
    _, text, html = parts(
        approval_email(
            sender="HITL <approvals@hitl.local>",
            to="a@x.test",
            pause=pause(action=hostile, context={"k": hostile, hostile: 1}, requested_by=hostile),
            links=LINKS,
        )
    )
    assert "<script>" not in html
    assert "&lt;script&gt;" in html
    assert hostile in text  # a text part is not HTML: shown as written


def test_header_injection_in_the_action_stays_in_the_subject():
    parsed, _, _ = parts(
        approval_email(
            sender="HITL <approvals@hitl.local>",
            to="a@x.test",
            pause=pause(action="Deploy\r\nBcc: victim@evil.test"),
            links=LINKS,
        )
    )
    assert parsed["Bcc"] is None
    assert "\n" not in parsed["Subject"] and "\r" not in parsed["Subject"]
    assert parsed["Subject"].startswith("Approval needed: Deploy Bcc: victim@evil.test")
    assert [str(a) for a in parsed["To"].addresses] == ["a@x.test"]


def test_a_64_kib_nested_context_is_folded_in_both_parts():
    deep = {"level": {"items": [{"blob": "x" * 5000, "n": n} for n in range(40)]}}
    message = approval_email(
        sender="HITL <approvals@hitl.local>", to="a@x.test", pause=pause(context=deep), links=LINKS
    )
    _, text, html = parts(message)
    assert len(message.as_bytes()) < 40_000
    assert "more characters" in text and "more characters" in html
    assert "the page" in html and LINKS.page in text
    for body in (text, html):
        assert LINKS.approve in body and LINKS.reject in body


def test_both_parts_carry_the_expiry_in_words_and_utc():
    _, text, html = parts(
        approval_email(sender="HITL <approvals@hitl.local>", to="a@x.test", pause=pause(), links=LINKS)
    )
    for body in (text, html):
        assert "in 3 hours" in body and "UTC" in body
        assert "deploy-bot" in body


def test_times_in_words():
    now = timeutil.parse("2026-11-24T12:00:00.000Z")
    assert describe_time("2026-11-24T12:00:30.000Z", now) == "in 30 seconds (2026-11-24 12:00 UTC)"
    assert describe_time("2026-11-26T12:00:00.000Z", now) == "in 2 days (2026-11-26 12:00 UTC)"
    assert describe_time("2026-11-24T11:00:00.000Z", now).startswith("already passed")


def test_pretty_context_keeps_everything_when_unlimited():
    text, cut = pretty_context({"a": "x" * 100}, limit=None)
    assert not cut and "x" * 100 in text


def test_pages_escape_what_requesters_wrote():
    html = page(
        "outcome.html.j2",
        title="t",
        headline="<b>h</b>",
        explanation="e",
        pause={"watchId": "w", "status": "approved", "action": "<img src=x onerror=alert(1)>", "decision": None},
    )
    assert "<img" not in html and "&lt;img" in html
