# WRONG: CORS(app) without supports_credentials - a credentialed fetch is refused by the browser.

from flask import Flask, jsonify
from flask_cors import CORS

# Initialize a Flask application (app).
app = Flask(__name__)

# No supports_credentials: never sends Access-Control-Allow-Credentials: true.
CORS(app)


# An API endpoint: returns JSON data.
@app.route('/api/data')
def get_data():
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
