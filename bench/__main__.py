"""``python -m bench [--quick] [--only NAME …]``: print every measurement (``make bench``)."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from bench import aws_calls, cold_import, dashboard, decision, latency, scale, slack, webhook
from bench.common import Options

#: name -> the measurement's ``run``; later steps add theirs here
MEASUREMENTS: dict[str, Callable[[Options], None]] = {
    "calls": aws_calls.run,
    "latency": latency.run,
    "imports": cold_import.run,
    "decision": decision.run,
    "webhook": webhook.run,
    "scale": scale.run,
    "dashboard": dashboard.run,
    "slack": slack.run,
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer samples")
    parser.add_argument("--only", nargs="+", choices=sorted(MEASUREMENTS), help="run only these measurements")
    args = parser.parse_args(argv)
    options = Options(quick=args.quick)
    for name in args.only or MEASUREMENTS:
        MEASUREMENTS[name](options)


if __name__ == "__main__":
    main()
