"""Emailed iCal invitations (RFC 5545 / 5546 iTIP / 6047 iMIP): the outbox, SMTP delivery (or
.eml files when no SMTP server is configured), and RSVP links."""


def init_app(app) -> None:
    """Invitation and outbox pages, the receivers that send iCal mail for session events, and the
    outbox and invitation-expiry sweeps."""
    from app.invites import receivers  # noqa: F401  (connects them)
    from app.invites.invitation_views import bp as invitations_bp
    from app.invites.invitations import expire_invitations
    from app.invites.tasks import sweep_outbox
    from app.invites.views import bp as invites_bp
    from app.jobs import declare_cron

    app.register_blueprint(invites_bp)
    app.register_blueprint(invitations_bp)
    declare_cron(app, sweep_outbox, queue="low", interval=300)
    declare_cron(app, expire_invitations, queue="low", interval=300)
