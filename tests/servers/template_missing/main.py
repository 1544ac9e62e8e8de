# WRONG: the home page renders templates/index.html, but index.html sits next to main.py, not in a templates folder: TemplateNotFound.
from flask import Flask, jsonify, render_template
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
    return render_template('index.html')


if __name__ == '__main__':
    app.run(port=5001)
