# OK as a server (full marks), but it prints 300,000 lines before it starts and one more per request: the log keeps only its two ends.

for n in range(300_000):
    print('flood line', n)

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
    print('flood line in a request')
    return jsonify(PEOPLE)


if __name__ == '__main__':
    app.run(port=5001)
