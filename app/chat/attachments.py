"""Attachment files: checked (size, type, content), stored under a random name, served to
members only (the view checks can_view_thread). The control center's work items keep their
files here too (checked, stored and served by the same functions)."""
from __future__ import annotations

import functools
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from flask import abort, current_app, send_file
from werkzeug.datastructures import FileStorage
from werkzeug.utils import secure_filename

from app.after_commit import run_after_rollback
from app.extensions import db

MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024
MAX_FILES_PER_MESSAGE = 5

# extension -> (content type, magic-number prefixes or None when the format has none)
ALLOWED_TYPES = {
    "png": ("image/png", (b"\x89PNG\r\n\x1a\n",)),
    "jpg": ("image/jpeg", (b"\xff\xd8\xff",)),
    "jpeg": ("image/jpeg", (b"\xff\xd8\xff",)),
    "gif": ("image/gif", (b"GIF87a", b"GIF89a")),
    "webp": ("image/webp", (b"RIFF",)),
    "pdf": ("application/pdf", (b"%PDF-",)),
    "txt": ("text/plain", None),
    "csv": ("text/csv", None),
    "docx": ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", (b"PK",)),
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", (b"PK",)),
    "pptx": ("application/vnd.openxmlformats-officedocument.presentationml.presentation", (b"PK",)),
    "odt": ("application/vnd.oasis.opendocument.text", (b"PK",)),
    "zip": ("application/zip", (b"PK",)),
    "mp3": ("audio/mpeg", (b"ID3", b"\xff\xfb", b"\xff\xf3", b"\xff\xf2")),
}


class AttachmentError(ValueError):
    pass


@dataclass
class CheckedFile:
    filename: str
    content_type: str
    data: bytes


def storage_root() -> Path:
    configured = current_app.config.get("ATTACHMENTS_DIR")
    root = Path(configured) if configured else Path(current_app.instance_path) / "attachments"
    root.mkdir(parents=True, exist_ok=True)
    return root


def check_upload(upload: FileStorage) -> CheckedFile:
    raw_name = upload.filename or ""
    # secure_filename strips directories and "..": a name can never point outside the store.
    name = secure_filename(raw_name)[-150:] or "file"
    ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if ext not in ALLOWED_TYPES:
        raise AttachmentError(f"{raw_name or 'That file'}: this type of file cannot be attached "
                              "(images, PDF, text and office documents can).")
    data = upload.stream.read(MAX_ATTACHMENT_BYTES + 1)
    if len(data) > MAX_ATTACHMENT_BYTES:
        raise AttachmentError(f"{name} is larger than {MAX_ATTACHMENT_BYTES // (1024 * 1024)} MB.")
    if not data:
        raise AttachmentError(f"{name} is empty.")
    content_type, magics = ALLOWED_TYPES[ext]
    if magics and not data.startswith(magics):
        raise AttachmentError(f"{name} is not really a .{ext} file.")
    if magics is None and b"\x00" in data[:4096]:
        raise AttachmentError(f"{name} is not a text file.")
    return CheckedFile(name, content_type, data)


def store(data: bytes) -> str:
    """Write an upload's bytes; the Attachment row naming it is written in the same unit of
    work. The file goes again if that unit of work is rolled back (a failed request, a commit
    the database refuses at the edge), so no file outlives the row it was stored for."""
    key = secrets.token_urlsafe(24)
    path = storage_root() / key
    with open(path, "xb") as fh:
        fh.write(data)
    run_after_rollback(db.session(), functools.partial(discard, key))
    return key


def path_for(storage_key: str) -> Path:
    path = (storage_root() / storage_key).resolve()
    if path.parent != storage_root().resolve():
        raise AttachmentError("bad storage key")
    return path


def discard(storage_key: str) -> None:
    try:
        os.unlink(path_for(storage_key))
    except (FileNotFoundError, AttachmentError):
        pass


IMAGE_TYPES = {"image/png", "image/jpeg", "image/gif", "image/webp"}


def download(storage_key: str, content_type: str, filename: str):
    """The file as a response, once the caller has checked who may read it: images inline,
    everything else as a download, sandboxed (a file never runs as this site's page)."""
    try:
        path = path_for(storage_key)
    except AttachmentError:
        abort(404)
    if not path.exists():
        abort(404)
    response = send_file(path, mimetype=content_type, as_attachment=content_type not in IMAGE_TYPES,
                         download_name=filename, max_age=0, conditional=True)
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response.headers["Cache-Control"] = "private, max-age=3600"
    return response
