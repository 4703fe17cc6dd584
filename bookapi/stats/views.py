from bookapi.stats import bp  # noqa: F401
from bookapi.stats.models import *  # noqa: F401,F403  (placeholder until the views import the models)
