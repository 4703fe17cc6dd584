from bookapi.favorites import bp  # noqa: F401
from bookapi.favorites.models import *  # noqa: F401,F403  (placeholder until the views import the models)
