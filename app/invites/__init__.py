"""Emailed iCal invitations (RFC 5545 / 5546 iTIP / 6047 iMIP): the outbox, SMTP delivery (or
.eml files when no SMTP server is configured), and RSVP links."""
