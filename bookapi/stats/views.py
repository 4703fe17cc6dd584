from flask import jsonify

from bookapi.access import public
from bookapi.caching import conditional
from bookapi.openapi import operation
from bookapi.stats import bp
from bookapi.stats.queries import catalogue_figures
from bookapi.stats.schemas import stats_schema


@bp.get("")
@public
@operation(response=stats_schema, cached=True)
def get_stats():
    """Read the catalogue's figures: totals, the ratings' mean and histogram, and the largest categories."""
    figures = catalogue_figures()
    return conditional(jsonify(stats_schema.dump(figures)), last_modified=figures["computed_at"])
