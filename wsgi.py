"""The WSGI entry point: ``gunicorn wsgi:app``; also what ``flask`` finds (FLASK_APP=wsgi)."""
from bookapi import create_app

app = create_app()
