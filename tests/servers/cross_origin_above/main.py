# WRONG: @cross_origin(...) is above @app.route(...): Flask registers the function before cross_origin wraps it, so no CORS headers.
from flask import Flask, jsonify
from flask_cors import cross_origin

app = Flask(__name__)


@cross_origin(supports_credentials=True)
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
