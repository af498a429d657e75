"""Benchmarks: the same Client-Server API scenarios against Synapse and against us.

``python -m bench.run`` installs Synapse into its own virtualenv, starts each
server, runs every scenario, stops the servers by their PIDs and writes
``docs/benchmarks.md``. ``--smoke`` runs a small pass on our server only.
"""
