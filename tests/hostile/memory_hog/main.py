# WRONG (out-of-memory): allocates 16 GB at import; the memory limit turns that into a MemoryError.

hog = bytearray(16 * 1024 ** 3)

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
