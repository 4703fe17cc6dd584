"""Extension singletons, bound to an app in ``create_app``."""
from flasgger import Swagger
from flask_cors import CORS
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


# Objects stay readable after commit, so a view can dump what it just wrote without another SELECT.
db = SQLAlchemy(model_class=Base, session_options={"expire_on_commit": False})
# flask db check (run by the suite) then also catches a column default the migrations do not set.
migrate = Migrate(compare_server_default=True)
cors = CORS()
swagger = Swagger(parse=False)
