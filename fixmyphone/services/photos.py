"""Photos of the damage: what may be uploaded, where it is kept, and who may see it.

The content type is decided from the file's first bytes (never from its name or the browser's
claim); files live under ``UPLOAD_FOLDER`` (outside the web root) with random names and are only
handed out through a view that checks the viewer may see the repair.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import IO, Optional

from flask import current_app

from ..domain_errors import NotFound, ValidationFailed
from ..extensions import db
from ..models import RequestPhoto, ServiceRequest, User
from . import audit
from .repairs import can_view

EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/gif": "gif", "image/webp": "webp"}


@dataclass(frozen=True)
class PhotoUpload:
    """A checked upload, held in memory until it is stored."""

    original_name: str
    content_type: str
    data: bytes


def max_bytes() -> int:
    """The largest photo accepted, in bytes (config PHOTO_MAX_BYTES)."""
    return current_app.config["PHOTO_MAX_BYTES"]


def max_photos() -> int:
    """How many photos one request may carry (config PHOTO_MAX_COUNT)."""
    return current_app.config["PHOTO_MAX_COUNT"]


def sniff_image_type(head: bytes) -> Optional[str]:
    """The image type the leading bytes prove, or None when they are not an accepted image."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None


def _decodes(data: bytes) -> bool:
    """A second opinion from Pillow: the bytes after the header really are an image."""
    try:
        from PIL import Image  # loaded on first use: Pillow, only when a photo is uploaded
    except ImportError:  # Pillow comes with fpdf2; without it the magic bytes decide alone
        return True
    try:
        with Image.open(BytesIO(data)) as image:
            image.verify()
    except Exception:  # noqa: BLE001  (any decoder error means "not an image")
        return False
    return True


def _clean_name(name: Optional[str]) -> str:
    base = os.path.basename((name or "").replace("\\", "/")).strip()
    return (base or "photo")[:200]


def check_upload(stream: IO[bytes], filename: Optional[str]) -> PhotoUpload:
    """Read one uploaded file and accept it only if it is a JPEG, PNG, GIF or WebP image."""
    name = _clean_name(filename)
    limit = max_bytes()
    data = stream.read(limit + 1)
    if not data:
        raise _photo_error(f"{name} is empty.")
    if len(data) > limit:
        raise _photo_error(f"{name} is larger than {limit // (1024 * 1024)} MB.")
    content_type = sniff_image_type(data[:16])
    if content_type is None or not _decodes(data):
        raise _photo_error(f"{name} is not a photo: upload JPEG, PNG, GIF or WebP images only.")
    return PhotoUpload(original_name=name, content_type=content_type, data=data)


def check_uploads(files: list) -> list[PhotoUpload]:
    """Check every file of a multi-file field (``FileStorage``s; empty parts are skipped)."""
    chosen = [f for f in files if f is not None and getattr(f, "filename", "")]
    if len(chosen) > max_photos():
        raise _photo_error(f"Attach at most {max_photos()} photos.")
    return [check_upload(f.stream, f.filename) for f in chosen]


def _photo_error(message: str) -> ValidationFailed:
    return ValidationFailed(message, fields={"photos": [message]})


def photo_dir() -> Path:
    """Where photos are kept: UPLOAD_FOLDER/photos, created private on first use."""
    path = Path(current_app.config["UPLOAD_FOLDER"]) / "photos"
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def store(request: ServiceRequest, upload: PhotoUpload, actor: User) -> RequestPhoto:
    """Write the photo under a random name and stage its row; the caller commits."""
    if len(request.photos) >= max_photos():
        raise _photo_error(f"A repair can carry at most {max_photos()} photos.")
    stored_name = f"{secrets.token_hex(16)}.{EXTENSIONS[upload.content_type]}"
    path = photo_dir() / stored_name
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(upload.data)
    photo = RequestPhoto(
        service_request=request,
        stored_name=stored_name,
        original_name=upload.original_name,
        content_type=upload.content_type,
        size=len(upload.data),
    )
    db.session.add(photo)
    audit.record(actor, "photo_added", request, after={"photo": stored_name})
    return photo


def discard_files(photos: list[RequestPhoto]) -> None:
    """Delete stored files whose rows were not committed (the transaction failed)."""
    for photo in photos:
        try:
            (photo_dir() / photo.stored_name).unlink(missing_ok=True)
        except OSError:
            current_app.logger.warning("could not delete orphan photo %s", photo.stored_name)


def photo_for(viewer: User, photo_id: int) -> RequestPhoto:
    """A photo the viewer may see (the repair's customer or staff), else NotFound."""
    photo = db.session.get(RequestPhoto, photo_id)
    if photo is None or not can_view(viewer, photo.service_request):
        raise NotFound("No such photo.")
    return photo


def file_path(photo: RequestPhoto) -> Path:
    """The photo's file on disk; NotFound if it has gone missing."""
    path = photo_dir() / photo.stored_name
    if not path.is_file():
        raise NotFound("This photo is no longer available.")
    return path
