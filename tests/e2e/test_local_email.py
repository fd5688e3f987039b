"""The approvers' side over HTTP against the local stack: the email in the local outbox, its links
(fetched by browsers, Outlook and mail scanners alike, which never decide), the form that decides,
and the agent's long-poll that sees the decision.

Each test's tenant is its own (``hitl-admin --local create-tenant``), with approvers of its own, so
its emails are told apart in the outbox (which holds every email of the session) by recipient.
"""

from __future__ import annotations

import html
import re
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pytest

from tests.client import Answer
from tests.e2e.conftest import Http, Stack

pytestmark = pytest.mark.e2e

#: how long an email may take to reach the outbox before a test gives up (not a target: the
#: bench measures that; a worker's first start, ~2 s, can come first)
EMAIL_WAIT_S = 15
USER_AGENTS = {
    "browser": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36",
    "outlook": "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17126; Pro)",
    "scanner": "Mozilla/5.0 (compatible; SafeLinks/1.0; +https://aka.ms/safelinks) Mimecast-URL-Protect/1.0",
}
FETCHES_PER_AGENT = 3
DECISION_TYPES = {"pause.approved", "pause.rejected"}


@dataclass
class Team:
    """A tenant of the test's own: its agent and its two approvers."""

    stack: Stack
    agent: Http
    approvers: list[str]

    def create(self, **fields: Any) -> tuple[str, str]:
        """A new pause with a unique action: ``(watchId, action)``."""
        action = fields.pop("action", "Deploy build 42 to production") + f" [{uuid.uuid4().hex[:8]}]"
        body = {"action": action, "context": {"build": 42, "env": "prod"}, **fields}
        answer = self.agent.post("/api/pause", body)
        assert answer.status == 201, answer.body
        return answer.json()["watchId"], action

    def email(self, to: str, action: str) -> dict[str, Any]:
        """The email about ``action`` sent to ``to``, once it is in ``/_local/outbox.json``."""
        deadline = time.monotonic() + EMAIL_WAIT_S
        while True:
            outbox = self.stack.http().get("/_local/outbox.json")
            assert outbox.status == 200, outbox.body
            found = [e for e in outbox.json() if e["to"] == [to] and action in e["subject"]]
            if found:
                assert len(found) == 1, f"{len(found)} emails to {to} about {action!r}"
                return found[0]
            assert time.monotonic() < deadline, f"no email to {to} about {action!r} after {EMAIL_WAIT_S} s"
            time.sleep(0.05)

    def links(self, to: str, action: str) -> dict[str, str]:
        """``{"approve": url, "reject": url, "view": url}`` of the email to ``to``."""
        links = self.email(to, action)["links"]
        assert [link.rsplit("/", 1)[1] for link in links] == ["approve", "reject", "view"], links
        assert all(link.startswith(self.stack.url + "/a/") for link in links), links
        return dict(zip(["approve", "reject", "view"], links, strict=True))

    def pause(self, watch_id: str) -> dict[str, Any]:
        answer = self.agent.get(f"/api/pause/{watch_id}")
        assert answer.status == 200, answer.body
        pause: dict[str, Any] = answer.json()
        return pause

    def audit_types(self, watch_id: str) -> list[str]:
        answer = self.agent.get("/api/audit", query={"watchId": watch_id})
        assert answer.status == 200, answer.body
        return [entry["type"] for entry in answer.json()["items"]]


@pytest.fixture(scope="module")
def team(stack: Stack) -> Iterator[Team]:
    """A tenant with two approvers; one pause emailed first, so every test finds the notifier warm."""
    tag = uuid.uuid4().hex[:8]
    approvers = [f"ann-{tag}@example.com", f"bob-{tag}@example.com"]
    created = stack.admin("create-tenant", f"email-{tag}", "--plan", "pro", *_approver_flags(approvers))
    made = Team(stack, stack.http(created["apiKey"]), approvers)
    _, action = made.create(action="Warm up")
    for approver in approvers:
        made.email(approver, action)
    yield made


def _approver_flags(approvers: list[str]) -> list[str]:
    return [flag for approver in approvers for flag in ("--approver", approver)]


def post_form(url: str, fields: dict[str, str], headers: dict[str, str] | None = None) -> Answer:
    """POST ``fields`` as ``application/x-www-form-urlencoded`` to ``url``, as a browser's form does."""
    return Http("").post_form(url, fields, {"User-Agent": USER_AGENTS["browser"], **(headers or {})})


def form_url(link: str) -> str:
    """The confirmation form's ``action``: the link without its last segment."""
    return link.rsplit("/", 1)[0]


def from_the_page(stack: Stack) -> dict[str, str]:
    """What a browser sends with a POST from the confirmation page: its own origin, same-origin."""
    return {"Origin": stack.url, "Sec-Fetch-Site": "same-origin", "Sec-Fetch-Mode": "navigate"}


def text(answer: Answer) -> str:
    return answer.body.decode()


def visible(answer: Answer) -> str:
    """The page's text as a reader sees it: no tags, entities decoded, spaces collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", text(answer))).split())


def assert_page_headers(answer: Answer) -> None:
    assert answer.headers["content-type"].startswith("text/html")
    assert answer.headers["cache-control"] == "no-store"
    assert answer.headers["referrer-policy"] == "no-referrer"
    assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]


def long_poll(team: Team, watch_id: str) -> tuple[threading.Thread, list[Answer]]:
    """An agent's ``?wait=20`` long-poll on ``watch_id``, in a thread (still waiting when returned)."""
    answers: list[Answer] = []
    waiter = threading.Thread(
        target=lambda: answers.append(team.agent.get(f"/api/pause/{watch_id}", query={"wait": 20})), daemon=True
    )
    waiter.start()
    waiter.join(1.0)
    assert waiter.is_alive(), f"the long-poll returned while the pause was pending: {answers}"
    return waiter, answers


def fetch_like_everyone(links: dict[str, str]) -> list[tuple[str, str, str, Answer]]:
    """GET and HEAD every link ``FETCHES_PER_AGENT`` times per User-Agent, a few at a time (as
    scanners do): ``[(choice, agent, method, answer)]``."""
    jobs = [
        (choice, agent, method)
        for choice in links
        for agent in USER_AGENTS
        for method in ("GET", "HEAD")
        for _ in range(FETCHES_PER_AGENT)
    ]

    def fetch(job: tuple[str, str, str]) -> tuple[str, str, str, Answer]:
        choice, agent, method = job
        return choice, agent, method, Http("").call(method, links[choice], headers={"User-Agent": USER_AGENTS[agent]})

    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(fetch, jobs))


@pytest.mark.parametrize(("choice", "outcome"), [("approve", "approved"), ("reject", "rejected")])
def test_links_never_decide_and_the_confirmed_form_does(team, choice, outcome):
    # Given a pause, and the email it sent each approver
    watch_id, action = team.create()
    ann, bob = team.approvers
    links = team.links(ann, action)
    assert team.links(bob, action)["approve"] != links["approve"]  # each approver has a token of their own

    # When browsers, Outlook and scanners GET and HEAD every link, again and again
    fetched = fetch_like_everyone(links)

    # Then each gets the confirmation page (HEAD: its headers), the chosen decision foremost
    assert len(fetched) == 3 * len(USER_AGENTS) * 2 * FETCHES_PER_AGENT
    for link_choice, agent, method, answer in fetched:
        assert answer.status == 200, (link_choice, agent, method, answer.status, answer.body[:300])
        assert_page_headers(answer)
        if method == "HEAD":
            assert answer.body == b""
        else:
            foremost = {"approve": "Confirm: Approve", "reject": "Confirm: Reject", "view": "Approve Reject"}
            assert foremost[link_choice] in visible(answer), (link_choice, agent)
            assert action in visible(answer)
    # and the pause is still pending, with no approval and nothing but its creation audited
    pause = team.pause(watch_id)
    assert pause["status"] == "pending"
    assert pause["decision"] is None
    assert pause["approvals"] == []
    assert team.audit_types(watch_id) == ["pause.created"]

    # When an agent is long-polling, and Ann confirms from the page with a comment
    waiter, answers = long_poll(team, watch_id)
    comment = f"Looks right to me ({choice})"
    page = post_form(
        form_url(links[choice]), {"decision": outcome, "comment": comment}, headers=from_the_page(team.stack)
    )

    # Then the page says what was recorded
    assert page.status == 200, page.body
    assert_page_headers(page)
    assert f"Recorded: {outcome}" in text(page)
    # and the waiting long-poll returns with the decision, by Ann, by email, with her comment
    waiter.join(15)
    assert not waiter.is_alive(), "the long-poll did not return after the decision"
    assert answers[0].status == 200, answers[0].body
    returned = answers[0].json()
    assert returned["status"] == outcome
    assert returned["decision"]["outcome"] == outcome
    assert returned["decision"]["by"] == ann
    assert returned["decision"]["channel"] == "email"
    assert returned["decision"]["comment"] == comment
    assert returned["decision"]["at"] == returned["decidedAt"]
    assert [(a["by"], a["decision"], a["channel"]) for a in returned["approvals"]] == [(ann, outcome, "email")]
    assert team.audit_types(watch_id) == [f"pause.{outcome}", "pause.created"]


def test_the_other_links_of_a_decided_pause_show_the_decision_and_change_nothing(team):
    # Given a pause Ann approved from her email
    watch_id, action = team.create()
    ann, bob = team.approvers
    ann_links, bob_links = team.links(ann, action), team.links(bob, action)
    approved = post_form(
        form_url(ann_links["approve"]), {"decision": "approved", "comment": "ship it"}, from_the_page(team.stack)
    )
    assert approved.status == 200, approved.body
    decided = team.pause(watch_id)
    assert decided["status"] == "approved"

    # When Ann opens her Reject link, and Bob any of his
    shown = [Http("").get(link) for link in (ann_links["reject"], ann_links["view"], *bob_links.values())]

    # Then each page shows the recorded decision (what, by whom) and offers no form
    for page in shown:
        assert page.status == 409, page.body
        assert_page_headers(page)
        body = visible(page)
        assert "Already approved" in body
        assert f"Approved by {ann} (email)" in body
        assert "ship it" in body
        assert "<form" not in text(page)

    # When Ann's link and Bob's are POSTed to reject it anyway
    again = [
        post_form(form_url(link), {"decision": "rejected", "comment": "no!"}, from_the_page(team.stack))
        for link in (ann_links["reject"], bob_links["reject"])
    ]

    # Then both are refused with the recorded decision, and nothing changed
    for page in again:
        assert page.status == 409, page.body
        assert "Already approved" in visible(page)
        assert f"Approved by {ann} (email)" in visible(page)
    assert team.pause(watch_id) == decided
    assert team.audit_types(watch_id) == ["pause.approved", "pause.created"]


def test_a_link_of_an_expired_pause_refuses_and_says_it_expired(team):
    # Given a pause with a 5 s timeout, and its email (sent while it was pending: the notifier
    # sends nothing for a pause that expired first, so the timeout leaves a busy machine room)
    watch_id, action = team.create(timeoutSeconds=5)
    links = team.links(team.approvers[0], action)

    # When its time is up
    deadline = time.monotonic() + 15
    while team.pause(watch_id)["status"] == "pending":
        assert time.monotonic() < deadline, "the pause did not expire"
        time.sleep(0.2)

    # Then each link shows a page saying it expired, with no form
    for link in links.values():
        page = Http("").get(link)
        assert page.status == 410, page.body
        assert_page_headers(page)
        assert "This request expired" in visible(page)
        assert "nobody decided in time" in visible(page)
        assert "<form" not in text(page)
    # and the form refuses to approve it
    refused = post_form(form_url(links["approve"]), {"decision": "approved"}, from_the_page(team.stack))
    assert refused.status == 410, refused.body
    assert "expired" in text(refused)
    pause = team.pause(watch_id)
    assert pause["status"] == "expired"
    assert pause["decision"]["by"] == "timeout"
    assert pause["approvals"] == []
    assert not DECISION_TYPES & set(team.audit_types(watch_id))


def test_thirty_concurrent_approvals_and_rejections_make_exactly_one_decision(team):
    # Given a pause, and the forms of both approvers
    watch_id, action = team.create()
    forms = [form_url(team.links(approver, action)["approve"]) for approver in team.approvers]
    start = threading.Barrier(30)

    def confirm(n: int) -> tuple[str, Answer]:
        decision = "approved" if n % 2 else "rejected"
        start.wait()
        return decision, post_form(forms[n % 4 // 2], {"decision": decision}, from_the_page(team.stack))

    # When 30 POSTs approve and reject it at the same moment
    with ThreadPoolExecutor(max_workers=30) as pool:
        answers = list(pool.map(confirm, range(30)))

    # Then exactly one is recorded, and every other one is told it was decided already
    statuses = Counter(answer.status for _, answer in answers)
    assert statuses == {200: 1, 409: 29}, [(a.status, a.body[:200]) for _, a in answers if a.status not in (200, 409)]
    winner = next(decision for decision, answer in answers if answer.status == 200)
    pause = team.pause(watch_id)
    assert pause["status"] == winner
    assert len(pause["approvals"]) == 1
    for _, answer in answers:
        if answer.status == 409:
            assert f"Already {winner}" in text(answer), text(answer)
    # and the audit trail holds exactly one decision
    types = team.audit_types(watch_id)
    assert Counter(types) == {f"pause.{winner}": 1, "pause.created": 1}, types


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
        {"Origin": "https://evil.example"},
        {"Sec-Fetch-Site": "cross-site"},
    ],
    ids=["origin-and-fetch-site", "origin", "fetch-site"],
)
def test_a_cross_site_post_is_refused_and_changes_nothing(team, headers):
    # Given a pending pause and Ann's link
    watch_id, action = team.create()
    links = team.links(team.approvers[0], action)

    # When another site's page POSTs the approve form
    refused = post_form(form_url(links["approve"]), {"decision": "approved", "comment": "pwned"}, headers)

    # Then it is refused with 403, and nothing changed
    assert refused.status == 403, refused.body
    assert_page_headers(refused)
    pause = team.pause(watch_id)
    assert pause["status"] == "pending"
    assert pause["approvals"] == []
    assert team.audit_types(watch_id) == ["pause.created"]
    # and Ann's link still works from her own page
    assert Http("").get(links["approve"]).status == 200
    ours = post_form(form_url(links["approve"]), {"decision": "approved"}, from_the_page(team.stack))
    assert ours.status == 200, ours.body
    assert team.pause(watch_id)["decision"]["by"] == team.approvers[0]
