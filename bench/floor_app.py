"""The floor: a bare Flask app answering a constant JSON body, served like the real app."""

from flask import Flask, jsonify

app = Flask(__name__)


@app.get("/")
def constant():
    """What no web app can beat on this machine with these worker settings."""
    return jsonify(status="in_progress", status_label="In Progress", history=[])
