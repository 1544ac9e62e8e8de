"""Stage 2, start: the student's server as a supervised child process (sandbox, limits, readiness, stop).

``server.Server`` is the entry point (start, wait until ready, stop); it uses
``workspace`` (the run's temporary folder), ``sandbox`` (bubblewrap: whether
and how), ``launch`` (the launcher's command line and environment; a
``Running`` launcher), ``spawn`` (pytest-xprocess, which spawns it),
``spawning`` (the spawn as the process backend needs it), ``procfs`` (ports
and process trees), ``server_log`` (its output) and ``diagnose`` (why it did
not start; ``tracebacks`` and ``known_fix`` read the student's errors).
``launcher.py`` (with ``supervisor.py``, which it loads) runs on the other
side, in the student's Python; ``limits`` are the numbers it applies.  ``backend``
chooses how the processes are run and stopped: Linux's facilities (the
above), the portable POSIX backend (``portable``: process groups and psutil,
for macOS) or Windows' Job Object (``windows``).

Nothing here imports pytest, requests or jsonschema: the server is started
first and boots on the other core while the CLI imports those.
"""
