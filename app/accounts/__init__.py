"""Centers (tenants), users, roles, courses and enrollments, authentication, settings."""


def init_app(app) -> None:
    """Sign-in, people and admin pages, and the welcome mail for imported people."""
    from app.accounts import auth, receivers  # noqa: F401  (receivers: connects them)
    from app.accounts.admin_views import bp as admin_bp
    from app.accounts.password_views import bp as passwords_bp
    from app.accounts.views import bp as accounts_bp
    from app.extensions import login_manager

    auth.init_login_manager(login_manager)
    app.register_blueprint(accounts_bp)
    app.register_blueprint(admin_bp)
    app.register_blueprint(passwords_bp)
