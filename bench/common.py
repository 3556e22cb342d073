"""What every benchmark needs: an app on a throwaway SQLite database and embedded Redis."""
from __future__ import annotations

from pathlib import Path


def build_app(root: Path, **overrides):
    """An app whose instance dir, database and Redis live under ``root`` (never instance/,
    DATABASE_URL or REDIS_URL)."""
    from app import create_app

    return create_app({
        "INSTANCE_PATH": str(root / "instance"),
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{root / 'bench.db'}",
        "REDIS_URL": None,  # an embedded Redis under the temporary instance dir
        "SECRET_KEY": "bench-only-secret",
        "BASE_URL": "http://127.0.0.1:5000",
        **overrides,
    })
