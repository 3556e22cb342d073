from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sock import Sock
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from htmx_flask import Htmx
from sqlalchemy import MetaData

# Named constraints so Alembic migrations are deterministic on SQLite and PostgreSQL alike.
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

db = SQLAlchemy(metadata=metadata)
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
htmx = Htmx()
sock = Sock()
# Rate limits live in Redis. While Redis is away the limits are kept in this process's memory
# (logged, "falling back to in-memory storage") and anything else Flask-Limiter cannot do is
# logged and skipped: an outage must not turn every login and message into a 500.
limiter = Limiter(key_func=get_remote_address, default_limits=[], strategy="moving-window",
                  in_memory_fallback_enabled=True, swallow_errors=True,
                  storage_options={"socket_timeout": 2, "socket_connect_timeout": 1})
