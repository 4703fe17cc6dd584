from bookapi.categories import bp  # noqa: F401
from bookapi.categories.models import *  # noqa: F401,F403  (placeholder until the views import the models)
