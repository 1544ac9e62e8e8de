"""A submission that does the lesson, its hacks and the example instructor checks' extra endpoint.

    webgrade check examples/solution --rubric examples/webgrade.toml
"""

from flask import Flask, abort, jsonify
from flask_cors import CORS

app = Flask(__name__)
CORS(app, supports_credentials=True, origins='*')

InfoDb = [
    {
        "FirstName": "Shaurya",
        "LastName": "Singh",
        "DOB": "November 18",
        "Residence": "San Diego",
        "Email": "shauryasinghus@gmail.com",
        "Owns_Cars": ["2015-Fusion", "2011-Ranger", "2003-Excursion", "1997-F350", "1969-Cadillac"],
    },
    {
        "FirstName": "John",
        "LastName": "Doe",
        "DOB": "January 1",
        "Residence": "Shanghai",
        "Email": "jdoe1@gmail.com",
        "Owns_Cars": ["2024-Accord"],
    },
    {
        "FirstName": "Ada",
        "LastName": "Lovelace",
        "DOB": "December 10",
        "Residence": "London",
        "Email": "ada@example.com",
        "Owns_Cars": [],
    },
]


@app.route('/api/data')
def get_data():
    return jsonify(InfoDb)


@app.route('/api/<name>')
def get_person(name):
    """One person's record, by first name (any case); 404 if there is no such person."""
    for person in InfoDb:
        if person["FirstName"].lower() == name.lower():
            return jsonify(person)
    abort(404)


@app.route('/')
def say_hello():
    return """
    <html>
    <head><title>Ada's server</title></head>
    <body><h2>Hello from Ada!</h2><p>Try /api/data or /api/Ada.</p></body>
    </html>
    """


if __name__ == '__main__':
    app.run(port=5001)
