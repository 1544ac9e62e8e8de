# WRONG (file-too-large): writes a 200 MB file at import; the file size limit stops it at 64 MB.

with open('big.bin', 'wb') as f:
    for n in range(200):
        f.write(b'x' * 1024 * 1024)

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
