"""The list machinery every collection shares: arguments, sort allow-lists, keyset cursors and ``Link``, capped
counts and estimates, sparse fields and weak ETags. A resource declares a ``Collection`` (collection.py) and its
argument schemas (arguments.py); ``find_page`` (pages.py) and ``page_response`` (responses.py) do the rest."""
