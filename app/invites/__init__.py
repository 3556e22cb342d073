"""Emailed iCal invitations (RFC 5545 / 5546 iTIP / 6047 iMIP) for session changes, RSVP links,
and invitations by email to a session, a group or the center. The emails go through app.mail's
outbox."""


def init_app(app) -> None:
    """Invitation and RSVP pages, the receivers that send iCal mail for session events, and the
    invitation-expiry sweep."""
    from app.invites import receivers  # noqa: F401  (connects them)
    from app.invites.invitation_views import bp as invitations_bp
    from app.invites.invitations import expire_invitations
    from app.invites.views import bp as invites_bp
    from app.jobs import declare_cron

    app.register_blueprint(invites_bp)
    app.register_blueprint(invitations_bp)
    declare_cron(app, expire_invitations, queue="low", interval=300)
