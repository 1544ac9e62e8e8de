# WRONG (handler crashes): GET /api/data divides by zero on line 20: a 500 whose traceback the report quotes.

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
    count = len(PEOPLE) / 0
    return jsonify(PEOPLE * int(count))


if __name__ == '__main__':
    app.run(port=5001)
