# WRONG: the notebook's %%python --bg line was pasted into main.py (line 2): SyntaxError.
%%python --bg
from flask import Flask, jsonify
from flask_cors import CORS

app = Flask(__name__)
CORS(app, supports_credentials=True, origins='*')


@app.route('/api/data')
def get_data():
    InfoDb = []
    InfoDb.append({
        "FirstName": "Ada",
        "LastName": "Lovelace",
        "DOB": "December 10",
        "Residence": "London",
        "Email": "ada@example.com",
        "Owns_Cars": ["1843-Engine"]
    })
    InfoDb.append({
        "FirstName": "Alan",
        "LastName": "Turing",
        "DOB": "June 23",
        "Residence": "Wilmslow",
        "Email": "alan@example.com",
        "Owns_Cars": ["1950-Bicycle"]
    })
    return jsonify(InfoDb)


@app.route('/')
def say_hello():
    return """
    <html>
    <head><title>Hello</title></head>
    <body><h2>Hello, World!</h2></body>
    </html>
    """


if __name__ == '__main__':
    app.run(port=5001)
