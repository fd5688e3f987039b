"""One construct per capability of the HITL stack (data, events, layers, mail, functions, api,
expiry, monitoring).  Not named ``constructs``: run as a script, that folder would shadow the library."""
