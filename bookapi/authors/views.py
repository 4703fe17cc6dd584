from bookapi.authors import bp  # noqa: F401
from bookapi.authors.models import *  # noqa: F401,F403  (placeholder until the views import the models)
