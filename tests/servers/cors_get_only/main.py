# WRONG: hand-written CORS headers are added only when request.method == 'GET', so the OPTIONS preflight gets none.
from flask import Flask, jsonify, request

app = Flask(__name__)


@app.after_request
def add_cors_headers(response):
    if request.method == 'GET':
        response.headers['Access-Control-Allow-Origin'] = request.headers.get('Origin', '*')
        response.headers['Access-Control-Allow-Credentials'] = 'true'
        response.headers['Access-Control-Allow-Headers'] = 'Content-Type'
    return response


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
