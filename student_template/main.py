from flask import Flask, jsonify
from flask_cors import CORS

# initialize a flask application (app)
app = Flask(__name__)
CORS(app, supports_credentials=True, origins='*')  # Allow all origins (*)

# add an api endpoint to flask app
@app.route('/api/data')
def get_data():
    # start a list, to be used like a information database
    InfoDb = []

    # add a row to list, an Info record
    InfoDb.append({
        "FirstName": "Shaurya",
        "LastName": "Singh",
        "DOB": "November 18",
        "Residence": "San Diego",
        "Email": "shauryasinghus@gmail.com",
        "Owns_Cars": ["2015-Fusion", "2011-Ranger", "2003-Excursion", "1997-F350", "1969-Cadillac"]
    })

    # add a row to list, an Info record
    InfoDb.append({
        "FirstName": "John",
        "LastName": "Doe",
        "DOB": "January 1",
        "Residence": "Shanghai",
        "Email": "jdoe1@gmail.com",
        "Owns_Cars": ["2024-Accord"]
    })

    # TODO (hack): add a record about YOU here, with the same keys:
    # FirstName, LastName, DOB, Residence, Email (text) and Owns_Cars (a list of text).

    return jsonify(InfoDb)

# add an HTML endpoint to flask app
@app.route('/')
def say_hello():
    # TODO (hack): add to the home page - change the <title>, add your own text.
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
    return html_content

if __name__ == '__main__':
    # starts flask server on port 5001, http://127.0.0.1:5001
    app.run(port=5001)
