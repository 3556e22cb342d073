"""CSV import of people: rows per second and SQL statements, for 2,000 rows (the default
largest import) and 200.

    python -m bench.csv_import

Runs ``services.import_users_csv`` as the import job does (one transaction) on a throwaway
database (PostgreSQL when DATABASE_URL is set). Times are wall-clock on a shared machine: read
them as lower bounds of the speed.
"""
from __future__ import annotations

import time

from bench.common import Row, StatementCounter, bench_app, database_kind, email, slug

SIZES = (200, 2000)


def make_csv(rows: int, tag: str) -> bytes:
    zones = ["Europe/London", "America/New_York", ""]
    lines = ["email,name,role,timezone"] + [
        f"{email(f'{tag}{n}')},Person {n} Example,{'teacher' if n % 20 == 0 else 'student'},"
        f"{zones[n % 3]}" for n in range(rows)]
    return ("\n".join(lines) + "\n").encode()


def main() -> list[Row]:
    from app.accounts import services
    from app.accounts.models import Center, Role, User
    from app.extensions import db

    rows = []
    with bench_app("csvimport") as (app, root):
        with app.app_context():
            center = Center(name="Bench Import", slug=slug("bench-import"), timezone="UTC")
            db.session.add(center)
            db.session.flush()
            admin = User(center_id=center.id, role=Role.ADMIN, name="Importing Admin",
                         email=email("importer"), password_hash="unusable")
            db.session.add(admin)
            db.session.commit()
            admin_id = admin.id
            db.session.remove()
        services.import_users_csv  # noqa: B018 (imported before timing)
        for size in SIZES:
            data = make_csv(size, f"s{size}-")
            with app.app_context(), app.test_request_context("/"):
                actor = db.session.get(User, admin_id)
                with StatementCounter(db.engine) as counter:
                    started = time.perf_counter()
                    report = services.import_users_csv(actor, data, max_rows=size)
                    seconds = time.perf_counter() - started
                assert report.count("created") == size, report.error
                db.session.remove()
            per_second = size / seconds
            print(f"CSV import ({database_kind()}): {size} rows in {seconds:.2f} s = "
                  f"{per_second:,.0f} rows/s, {counter.count} SQL statements")
            rows.append(Row(f"CSV import of {size} people, rows/s (statements)",
                            f"{per_second:,.0f} ({counter.count})"))
    return rows


if __name__ == "__main__":
    from bench.common import format_table

    print(format_table(main()))
