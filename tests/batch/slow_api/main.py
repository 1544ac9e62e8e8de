# WRONG: GET /api/data never answers (the handler sleeps for ten minutes); everything else is right.

import time

from flask import Flask, jsonify
from flask_cors import CORS

# Initialize a Flask application (app).
app = Flask(__name__)

# Allow web pages on other origins (for example the lesson page served from
# http://127.0.0.1:4100) to call this API with fetch(..., {credentials: 'include'}).
# supports_credentials=True makes flask-cors answer with
# Access-Control-Allow-Credentials: true and the caller's exact Origin (never "*"):
# a browser requires both before it hands a credentialed response to the page.
CORS(app, supports_credentials=True, origins='*')


# An API endpoint: returns JSON data.
@app.route('/api/data')
def get_data():
    time.sleep(600)  # the handler hangs: the grader must give up on it, not wait
    # Start a list, used like a small information database.
    InfoDb = []

    # Add a row to the list: one Info record.
    InfoDb.append({
        "FirstName": "Shaurya",
        "LastName": "Singh",
        "DOB": "November 18",
        "Residence": "San Diego",
        "Email": "shauryasinghus@gmail.com",
        "Owns_Cars": ["2015-Fusion", "2011-Ranger", "2003-Excursion", "1997-F350", "1969-Cadillac"]
    })

    # Add another row.
    InfoDb.append({
        "FirstName": "John",
        "LastName": "Doe",
        "DOB": "January 1",
        "Residence": "Shanghai",
        "Email": "jdoe1@gmail.com",
        "Owns_Cars": ["2024-Accord"]
    })

    # jsonify turns the list into JSON and sets Content-Type: application/json.
    return jsonify(InfoDb)


# An HTML endpoint: the home page.
@app.route('/')
def say_hello():
    html_content = """
    <html>
    <head>
        <title>Hello</title>
    </head>
    <body>
        <h2>Hello, World!</h2>
    </body>
    </html>
    """
    # A plain string is sent as text/html.
    return html_content


# Any other path (for example /unknown-page) gets Flask's built-in 404 Not Found.

if __name__ == '__main__':
    # Start the Flask server at http://127.0.0.1:5001
    app.run(port=5001)
