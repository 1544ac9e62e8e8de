"""Stage 2, start: the student's server as a supervised child process (sandbox, limits, readiness, stop).

Nothing here imports pytest, requests or jsonschema: the server is started
first and boots on the other core while the CLI imports those.
"""
