"""Provides the photos people in the field upload: checked, cleaned, re-encoded and stored by hash.

A photo from a phone carries more than the picture: the EXIF block holds where it was taken
(GPS), the phone's make and serial, and often a thumbnail of the uncropped original. Nothing of
it is kept: :func:`ingest` decodes the image with Pillow (JPEG, PNG, HEIC/HEIF; anything else is
refused), applies the EXIF orientation to the pixels, and encodes the pixels afresh as JPEG (a
PNG with transparency stays PNG) with no metadata but the colour profile, and the GPS block only
when the office configured ``keep_photo_location``. The pixel count is checked from the header
before anything is decoded (a 50 KB file can declare a 100,000 x 100,000 image), and the long
side is brought down to :data:`MAX_SIDE`.

:func:`save` stores the result content-addressed beside the database (:func:`photo_folder`):
``<db stem>.photos/<sha[:2]>/<sha>.jpg``, written atomically, so the same photo twice is one
file and the hash in the case's audit chain names the file exactly.

Pillow is imported on first use: the engine and the console import this module without it.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from store.errors import InvalidInput
from store.i18n import _

if TYPE_CHECKING:
    from PIL.Image import Image

MAX_SIDE = 3000  # pixels on the long side once stored: plenty for a case, a few MB at most
JPEG_QUALITY = 85
FIELD = "photo"  # the form field the errors name
ACCEPTED_FORMATS = frozenset({"JPEG", "MPO", "PNG", "HEIF"})  # MPO: a phone's JPEG with a depth map
GPS_IFD = 0x8825
MIMES = {"image/jpeg": ".jpg", "image/png": ".png"}


@dataclass(frozen=True)
class PhotoLimits:
    """What an upload may be (``[field] photo_max_bytes`` and ``photo_max_pixels``)."""

    max_bytes: int = 10_000_000
    max_pixels: int = 40_000_000
    max_side: int = MAX_SIDE


@dataclass(frozen=True)
class Photo:
    """A cleaned photo ready to store: the encoded bytes and what the case records of them."""

    data: bytes
    sha256: str
    mime: str  # image/jpeg or image/png
    width: int
    height: int

    @property
    def suffix(self) -> str:
        return MIMES[self.mime]

    @property
    def size(self) -> int:
        return len(self.data)


_heif_registered = False


def _register_heif() -> None:
    global _heif_registered
    if not _heif_registered:
        import pillow_heif

        pillow_heif.register_heif_opener()
        _heif_registered = True


def _refused(message: str) -> InvalidInput:
    return InvalidInput(message, FIELD)


def ingest(data: bytes, *, limits: PhotoLimits, keep_location: bool = False) -> Photo:
    """The cleaned photo of an uploaded file.

    Args:
        data: the file as uploaded.
        limits: the size and pixel limits.
        keep_location: keep the GPS block of the EXIF (everything else of it is dropped anyway).

    Raises:
        InvalidInput: (field ``photo``) empty, too large, not an image of an accepted format,
            damaged, or more pixels than ``limits.max_pixels``.
    """
    from PIL import Image, ImageOps

    if not data:
        raise _refused(_("the file is empty"))
    if len(data) > limits.max_bytes:
        raise _refused(
            _("the file is larger than {limit} MB").format(limit=limits.max_bytes // 1_000_000)
        )
    _register_heif()
    try:
        with warnings.catch_warnings():
            # Pillow's own bomb check warns at ~89 MP and raises at twice that; ours is lower
            # and checked below, so its warning is a refusal too (never a log line).
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            opened = Image.open(io.BytesIO(data))
            if opened.format not in ACCEPTED_FORMATS:
                raise _refused(_("must be a JPEG, PNG or HEIC photo"))
            if opened.width * opened.height > limits.max_pixels:
                raise _refused(_too_many_pixels(limits))
            gps = _gps_block(opened) if keep_location else None
            opened.load()
            image: Image.Image = ImageOps.exif_transpose(opened)
    except InvalidInput:
        raise
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
        raise _refused(_too_many_pixels(limits)) from exc
    except Exception as exc:  # Pillow raises many kinds for a damaged or foreign file
        raise _refused(_("is not a readable image")) from exc
    icc = image.info.get("icc_profile")
    image.thumbnail((limits.max_side, limits.max_side))
    out = io.BytesIO()
    if _has_alpha(image):
        image = image.convert("RGBA")
        image.save(out, "PNG", optimize=True, **({"icc_profile": icc} if icc else {}))
        mime = "image/png"
    else:
        image = image.convert("RGB")
        extra: dict[str, object] = {}
        if icc:
            extra["icc_profile"] = icc
        if gps is not None:
            extra["exif"] = gps
        image.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True, **extra)
        mime = "image/jpeg"
    encoded = out.getvalue()
    return Photo(
        data=encoded,
        sha256=hashlib.sha256(encoded).hexdigest(),
        mime=mime,
        width=image.width,
        height=image.height,
    )


def _too_many_pixels(limits: PhotoLimits) -> str:
    return _("the image has more than {limit} million pixels").format(
        limit=limits.max_pixels // 1_000_000
    )


def _gps_block(image: Image) -> bytes | None:
    """An EXIF block holding only the GPS of ``image`` (``None`` when it has none)."""
    from PIL import Image as PILImage

    gps = image.getexif().get_ifd(GPS_IFD)
    if not gps:
        return None
    kept = PILImage.Exif()
    kept[GPS_IFD] = dict(gps)
    return kept.tobytes()


def _has_alpha(image: Image) -> bool:
    if image.mode in ("RGBA", "LA", "PA"):
        return image.getextrema()[-1][0] < 255  # type: ignore[index]
    return image.mode == "P" and "transparency" in image.info


def photo_folder(db_path: Path) -> Path:
    """Where the photos of the database at ``db_path`` live: ``<db dir>/<db stem>.photos/``."""
    return db_path.parent / f"{db_path.stem}.photos"


def photo_path(folder: Path, sha256: str, mime: str = "image/jpeg") -> Path:
    """The file of the photo with hash ``sha256`` in ``folder``."""
    return folder / sha256[:2] / f"{sha256}{MIMES[mime]}"


def find_photo(folder: Path, sha256: str) -> Path | None:
    """The stored file of ``sha256`` whatever its type, or ``None``."""
    if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        return None
    for mime in MIMES:
        path = photo_path(folder, sha256, mime)
        if path.is_file():
            return path
    return None


def save(photo: Photo, folder: Path) -> Path:
    """Store ``photo`` in ``folder`` by its hash, atomically (the same photo twice: one file)."""
    path = photo_path(folder, photo.sha256, photo.mime)
    if path.is_file():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".upload-", suffix=photo.suffix)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(photo.data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
