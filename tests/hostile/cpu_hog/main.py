# WRONG (cpu-time): spins for ever at import; the CPU time limit stops it (the test lowers the limit to 1 s).

n = 0
while True:
    n += 1

from flask import Flask  # noqa: E402 - never reached

app = Flask(__name__)
app.run(port=5001)
