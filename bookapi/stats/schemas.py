from marshmallow import Schema, fields

from bookapi.stats.queries import STARS, TOP_CATEGORIES


class CategoryFigureSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    book_count = fields.Integer()


class StatsSchema(Schema):
    total_books = fields.Integer()
    total_authors = fields.Integer()
    total_categories = fields.Integer()
    total_reviews = fields.Integer()
    average_rating = fields.Float(allow_none=True, metadata={
        "description": "The mean of every review's rating, to two decimals; null while there are no reviews.",
        "example": 3.81,
    })
    ratings_histogram = fields.Dict(keys=fields.String(), values=fields.Integer(), metadata={
        "description": f"Reviews per rating, {STARS.start} to {STARS.stop - 1} stars.",
        "example": {"1": 5, "2": 8, "3": 20, "4": 40, "5": 27},
    })
    top_categories = fields.List(fields.Nested(CategoryFigureSchema), metadata={
        "description": f"The {TOP_CATEGORIES} categories with the most books, largest first.",
    })
    computed_at = fields.AwareDateTime(metadata={
        "description": "When the figures were counted: they are at most STATS_MAX_AGE seconds old (10 by default).",
    })


stats_schema = StatsSchema()
