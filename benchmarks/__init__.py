"""`make bench`: the service measured against a raw-WSGI ceiling; see README.md here."""
