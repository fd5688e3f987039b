"""The README's shell blocks, run as written against a fresh local stack, so the README cannot rot.

Every ```sh block of README.md runs, in order, in one bash (``set -euo pipefail``), from a
directory that looks like a fresh clone after ``make dev``: the ``Makefile`` and ``.venv`` (links
to this one's) and ``.hitl`` (the stack's state directory), in a shell that no make started.
Only the blocks that begin with another target than ``make admin`` (starting the stack, testing,
deploying) are left out, and the webhook receiver's port 9000 becomes a free one.  Then no
command may fail and no answer may be an API error.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
from pathlib import Path

import pytest

from tests.e2e.conftest import REPO_ROOT, start_stack, stop_stack

pytestmark = pytest.mark.e2e

README = REPO_ROOT / "README.md"
RECEIVER_PORT = "9000"
BLOCK = re.compile(r"^```sh\n(.*?)^```", re.DOTALL | re.MULTILINE)
API_ERROR = re.compile(r'"error":\s*\{\s*"code"')
RUN_TIMEOUT_S = 280  # a hang guard, not a target: on a busy shared machine the walk-through has taken 3+ min


LEFT_OUT = re.compile(r"make (?!admin )")  # a block that begins with it: `make dev`, `make synth`, …


def shell_blocks(text: str) -> list[str]:
    """The README's ``sh`` blocks a user runs against the local stack, in order."""
    return [block for block in BLOCK.findall(text) if not LEFT_OUT.match(block.lstrip())]


def _free_port() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return str(probe.getsockname()[1])


def test_the_readme_finds_the_walk_through_blocks():
    blocks = shell_blocks(README.read_text())
    joined = "\n".join(blocks)
    assert len(blocks) >= 7
    assert "make dev" not in joined and "cdk deploy" not in joined
    for needed in ("/api/pause", "add-approver local", "hitl_local.receiver", "list-keys", "set-policy"):
        assert needed in joined, needed
    assert "W=w_" not in joined and "<that watchId>" not in joined  # nothing to paste by hand
    assert not re.search(r"(^|\s)hitl-admin ", joined, re.MULTILINE)  # not on PATH: make admin
    assert 'make admin ARGS="--local create-tenant' in joined  # the blocks that begin with it run too


def test_the_readme_walk_through_runs_as_written(tmp_path: Path):
    # Given what a fresh clone looks like after `make dev`: .venv, and the stack's .hitl
    clone = tmp_path / "clone"
    clone.mkdir()
    (clone / ".venv").symlink_to(REPO_ROOT / ".venv")
    (clone / "Makefile").symlink_to(REPO_ROOT / "Makefile")
    # (the policy example adds approvers and names them at once: a tenant change counts at once)
    running = start_stack(clone / ".hitl", tmp_path / "stack.log")
    try:
        port = _free_port()
        script = "\n".join(block.replace(RECEIVER_PORT, port) for block in shell_blocks(README.read_text()))
        # (at the end, long-polls still waiting in the background are stopped, not waited for)
        ending = "\njobs -p | xargs -r kill 2>/dev/null || true\nwait\n"
        (tmp_path / "readme.sh").write_text("set -euo pipefail\n" + script + ending)
        # (a terminal's shell: no make's variables, as when `make test` runs this test)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HITL_", "AWS_", "MAKE", "MFLAGS"))}

        # When every block runs, in order, as written
        done = subprocess.run(
            ["bash", str(tmp_path / "readme.sh")],
            cwd=clone,
            env=env,
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT_S,
            check=False,
        )
    finally:
        stop_stack(running)

    # Then nothing failed and no answer was an error
    (tmp_path / "readme.out").write_text(done.stdout + "\n--- stderr\n" + done.stderr)
    shown = (
        f"exit {done.returncode} (whole output: {tmp_path / 'readme.out'})\n"
        f"--- stdout\n{done.stdout[-6000:]}\n--- stderr\n{done.stderr[-4000:]}"
    )
    assert done.returncode == 0, shown
    assert not API_ERROR.search(done.stdout + done.stderr), shown
    # and the walk-through showed what it says it shows
    assert '"status": "cancelled"' in done.stdout or '"status":"cancelled"' in done.stdout, shown
    assert '"expired"' in done.stdout, shown
    assert re.search(r"msg_\w+  pause\.cancelled", done.stdout), shown  # the receiver printed it
    assert '"minRequiredApprovals": 2' in done.stdout, shown  # the floor example
