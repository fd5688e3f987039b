"""``python -m hitl_local`` (what ``make dev`` runs): the local stack until Ctrl-C."""

from hitl_local.server import main

if __name__ == "__main__":
    raise SystemExit(main())
