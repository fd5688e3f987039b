"""Figures about the service, printed by ``python -m bench`` (``make bench``); nothing is asserted.

One module per measurement, each with a ``run(options)`` that prints its table; the registry
is in ``bench.__main__``.
"""
