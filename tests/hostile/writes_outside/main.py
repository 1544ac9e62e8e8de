# OK as a server (full marks), but at import it tries to write outside its folder and to look around; it prints what it managed.

import importlib.util
import os

TRIES = {
    "parent": os.path.join(os.path.dirname(os.getcwd()), "escaped.txt"),
    "tmp": "/tmp/webgrade-hostile-escaped.txt",
    "home": os.path.expanduser("~/escaped.txt"),
    "own": "own-folder.txt",
}
for where, path in TRIES.items():
    try:
        with open(path, "w") as f:
            f.write("escaped")
        print("WROTE", where, path)
    except OSError as error:
        print("DENIED", where, path, type(error).__name__)
for secret in ("/etc/shadow", "/root/.bashrc"):
    try:
        open(secret).read(1)
        print("READ", secret)
    except OSError as error:
        print("DENIED", secret, type(error).__name__)
print("GRADER-VISIBLE", importlib.util.find_spec("grader") is not None)

from flask import Flask, jsonify
from flask_cors import CORS

app = Flask(__name__)
CORS(app, supports_credentials=True, origins='*')

PEOPLE = [{"FirstName": "Ada", "LastName": "Lovelace", "DOB": "December 10", "Residence": "London",
           "Email": "ada@example.com", "Owns_Cars": ["1843-Engine"]}]


@app.route('/')
def home():
    return "<html><head><title>Hi</title></head><body><h2>Hello</h2></body></html>"


@app.route('/api/data')
def get_data():
    return jsonify(PEOPLE)


if __name__ == '__main__':
    app.run(port=5001)
