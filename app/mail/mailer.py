"""Email: building the MIME message (iMIP, RFC 6047) and delivering it over SMTP, or, with no
SMTP_URL configured, writing it as an .eml file under instance/mail/ so a new install shows
exactly what it would have sent.

SMTP_URL forms: smtp://host:25 (plain), smtp+starttls://user:pass@host:587, smtps://user:pass@host:465.
"""
from __future__ import annotations

import smtplib
import ssl
import unicodedata
from dataclasses import dataclass
from email import encoders
from email.header import Header
from email.message import Message
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import formataddr, formatdate, make_msgid, parseaddr
from pathlib import Path
from urllib.parse import unquote, urlsplit

from flask import current_app


class TemporaryMailError(Exception):
    """The mail server could not take the message now (down, 4xx): retry later."""


class PermanentMailError(Exception):
    """The mail server refused the message for good (5xx): do not retry."""


def one_line(text: str) -> str:
    """``text`` fit for a header: line breaks and other control characters become spaces.
    (Names are refused with them now, but rows written before that still exist, and a header
    with an embedded line break makes the message impossible to build, or worse, injects a
    header.)"""
    cleaned = "".join(" " if unicodedata.category(char) in ("Cc", "Zl", "Zp") else char
                      for char in text or "")
    return " ".join(cleaned.split())


def display_address(name: str | None, address: str) -> str:
    """``Name <address>`` for a To header: the name on one line, quoted or RFC 2047-encoded as
    it needs (formataddr), the address as stored."""
    name = one_line(name or "")
    return formataddr((name, address), "utf-8") if name else address


def build_message(*, mail_from: str, to: str, subject: str, text: str, html: str,
                  ics: str = "", method: str = "", message_id: str | None = None) -> Message:
    """multipart/mixed → multipart/alternative (text/plain, text/html, text/calendar with the
    method parameter) + invite.ics. Gmail, Outlook and Apple Mail read the inline text/calendar
    part; the attachment serves everything else."""
    alternative = MIMEMultipart("alternative")
    alternative.attach(MIMEText(text, "plain", "utf-8"))
    alternative.attach(MIMEText(html, "html", "utf-8"))
    if ics:
        calendar_part = MIMEText(ics, "calendar", "utf-8")
        calendar_part.set_param("method", method)
        alternative.attach(calendar_part)
        message = MIMEMultipart("mixed")
        message.attach(alternative)
        attachment = MIMEBase("application", "ics", name="invite.ics")
        attachment.set_payload(ics.encode("utf-8"))
        encoders.encode_base64(attachment)
        attachment.add_header("Content-Disposition", "attachment", filename="invite.ics")
        message.attach(attachment)
    else:
        message = alternative
    domain = parseaddr(mail_from)[1].partition("@")[2] or "classhub.local"
    mail_from, to = one_line(mail_from), one_line(to)
    message["From"] = mail_from
    message["To"] = to
    message["Reply-To"] = mail_from
    message["Subject"] = Header(one_line(subject), "utf-8",
                                header_name="Subject").encode()  # RFC 2047
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = message_id or make_msgid(domain=domain)
    return message


@dataclass
class SmtpSettings:
    host: str
    port: int
    mode: str  # plain | starttls | ssl
    username: str | None
    password: str | None


def parse_smtp_url(url: str) -> SmtpSettings:
    parts = urlsplit(url)
    modes = {"smtp": "plain", "smtp+starttls": "starttls", "smtps": "ssl", "smtp+ssl": "ssl"}
    if parts.scheme not in modes or not parts.hostname:
        raise ValueError("SMTP_URL must look like smtp+starttls://user:pass@host:587")
    mode = modes[parts.scheme]
    default_port = {"plain": 25, "starttls": 587, "ssl": 465}[mode]
    return SmtpSettings(parts.hostname, parts.port or default_port, mode,
                        unquote(parts.username) if parts.username else None,
                        unquote(parts.password) if parts.password else None)


def deliver(message: Message) -> str:
    """Send (or write) one message. Returns where it went; raises Temporary/PermanentMailError."""
    url = current_app.config.get("SMTP_URL")
    if not url:
        return write_eml(message)
    settings = parse_smtp_url(url)
    # Only when TLS is used: loading the system's CA store takes ~0.1 s, per message.
    context = ssl.create_default_context() if settings.mode != "plain" else None
    try:
        if settings.mode == "ssl":
            server = smtplib.SMTP_SSL(settings.host, settings.port, timeout=20, context=context)
        else:
            server = smtplib.SMTP(settings.host, settings.port, timeout=20)
        with server:
            if settings.mode == "starttls":
                server.starttls(context=context)
            if settings.username:
                server.login(settings.username, settings.password or "")
            server.send_message(message)
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _ in exc.recipients.values()]
        if all(500 <= code < 600 for code in codes):
            raise PermanentMailError(f"recipient refused: {exc.recipients}") from None
        raise TemporaryMailError(f"recipient deferred: {exc.recipients}") from None
    except smtplib.SMTPResponseException as exc:
        if 500 <= exc.smtp_code < 600:
            raise PermanentMailError(f"{exc.smtp_code} {exc.smtp_error!r}") from None
        raise TemporaryMailError(f"{exc.smtp_code} {exc.smtp_error!r}") from None
    except (OSError, smtplib.SMTPException) as exc:
        raise TemporaryMailError(f"{type(exc).__name__}: {exc}") from None
    return f"smtp://{settings.host}:{settings.port}"


def mail_dir() -> Path:
    path = Path(current_app.instance_path) / "mail"
    path.mkdir(parents=True, exist_ok=True)
    return path


def write_eml(message: Message) -> str:
    name = message["Message-ID"].strip("<>").replace("@", "_").replace("/", "_") + ".eml"
    path = mail_dir() / name
    path.write_bytes(message.as_bytes())
    return str(path)


def sender_address() -> str:
    return current_app.config.get("MAIL_FROM") or formataddr(("Classhub", "classhub@localhost"))
