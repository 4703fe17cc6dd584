from bookapi.reviews import bp  # noqa: F401
from bookapi.reviews.models import *  # noqa: F401,F403  (placeholder until the views import the models)
