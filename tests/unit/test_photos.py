"""Photos from the field: real JPEG/PNG/HEIC made here with Pillow, cleaned and stored by hash."""

from __future__ import annotations

import hashlib
import io
import struct
import zlib
from pathlib import Path

import pytest
from PIL import Image

from store.errors import InvalidInput
from uplink.photos import (
    GPS_IFD,
    PhotoLimits,
    find_photo,
    ingest,
    photo_folder,
    save,
)

LIMITS = PhotoLimits()
MAKE, MODEL, ORIENTATION = 0x010F, 0x0110, 0x0112


def gps_exif(orientation: int = 1) -> Image.Exif:
    exif = Image.Exif()
    exif[MAKE] = "PhoneMaker"
    exif[MODEL] = "Model X serial 1234"
    exif[ORIENTATION] = orientation
    exif[GPS_IFD] = {1: "N", 2: (30.0, 35.0, 12.0), 3: "E", 4: (114.0, 18.0, 7.0)}
    return exif


def jpeg(size: tuple[int, int] = (640, 480), exif: Image.Exif | None = None) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 80, 40)).save(
        out, "JPEG", **({"exif": exif.tobytes()} if exif else {})
    )
    return out.getvalue()


def png(mode: str = "RGB", alpha: int = 255) -> bytes:
    out = io.BytesIO()
    color = (10, 120, 200, alpha) if mode == "RGBA" else (10, 120, 200)
    Image.new(mode, (300, 200), color).save(out, "PNG")
    return out.getvalue()


def exif_of(data: bytes) -> Image.Exif:
    return Image.open(io.BytesIO(data)).getexif()


def test_a_jpeg_with_gps_is_stripped_of_every_exif_tag() -> None:
    original = jpeg(exif=gps_exif())
    assert exif_of(original).get_ifd(GPS_IFD)  # the test photo really has a location
    photo = ingest(original, limits=LIMITS)
    assert photo.mime == "image/jpeg"
    assert (photo.width, photo.height) == (640, 480)
    assert dict(exif_of(photo.data)) == {}
    assert b"PhoneMaker" not in photo.data and b"serial" not in photo.data
    assert photo.sha256 == hashlib.sha256(photo.data).hexdigest()


def test_keep_location_keeps_the_gps_block_and_nothing_else() -> None:
    photo = ingest(jpeg(exif=gps_exif()), limits=LIMITS, keep_location=True)
    exif = exif_of(photo.data)
    gps = exif.get_ifd(GPS_IFD)
    assert gps[1] == "N" and gps[3] == "E"
    assert float(gps[2][0]) == 30.0
    assert MAKE not in exif and MODEL not in exif
    assert b"PhoneMaker" not in photo.data


def test_the_orientation_is_applied_to_the_pixels() -> None:
    # Orientation 6: the camera held on its side; the stored photo is upright, without the tag.
    photo = ingest(jpeg((640, 480), exif=gps_exif(orientation=6)), limits=LIMITS)
    assert (photo.width, photo.height) == (480, 640)
    assert ORIENTATION not in exif_of(photo.data)


def test_a_png_without_transparency_becomes_a_jpeg() -> None:
    photo = ingest(png(), limits=LIMITS)
    assert photo.mime == "image/jpeg"
    assert Image.open(io.BytesIO(photo.data)).format == "JPEG"


def test_a_png_with_transparency_stays_a_png() -> None:
    photo = ingest(png("RGBA", alpha=100), limits=LIMITS)
    assert photo.mime == "image/png" and photo.suffix == ".png"
    stored = Image.open(io.BytesIO(photo.data))
    assert stored.format == "PNG" and stored.mode == "RGBA"
    assert not stored.text  # no text chunks carried over


def test_a_heic_photo_becomes_a_jpeg() -> None:
    import pillow_heif

    heif = pillow_heif.from_pillow(Image.new("RGB", (320, 240), (30, 160, 60)))
    out = io.BytesIO()
    heif.save(out, quality=80)
    photo = ingest(out.getvalue(), limits=LIMITS)
    assert photo.mime == "image/jpeg"
    assert (photo.width, photo.height) == (320, 240)
    assert Image.open(io.BytesIO(photo.data)).format == "JPEG"


def test_a_large_photo_is_brought_down_to_the_long_side_limit() -> None:
    photo = ingest(jpeg((4000, 1000)), limits=PhotoLimits(max_side=1000))
    assert (photo.width, photo.height) == (1000, 250)


@pytest.mark.parametrize(
    "data",
    [
        b"%PDF-1.4 not an image at all",
        b"GIF89a" + b"\x00" * 64,
        jpeg()[:200],  # a truncated JPEG
    ],
    ids=["pdf", "gif-header", "truncated"],
)
def test_a_non_image_or_damaged_file_is_refused(data: bytes) -> None:
    with pytest.raises(InvalidInput) as caught:
        ingest(data, limits=LIMITS)
    assert caught.value.field == "photo"


def test_another_image_format_is_refused() -> None:
    out = io.BytesIO()
    Image.new("RGB", (50, 50)).save(out, "GIF")
    with pytest.raises(InvalidInput, match="JPEG, PNG or HEIC"):
        ingest(out.getvalue(), limits=LIMITS)


def bomb_png(width: int, height: int) -> bytes:
    """A PNG whose header declares ``width`` x ``height`` with almost no data behind it."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 1024))
        + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize("side", [7000, 20_000, 100_000], ids=["over-ours", "pillow-warns", "huge"])
def test_a_decompression_bomb_is_refused_from_its_header(side: int) -> None:
    data = bomb_png(side, side)
    assert len(data) < 2000
    with pytest.raises(InvalidInput, match="million pixels") as caught:
        ingest(data, limits=LIMITS)
    assert caught.value.field == "photo"


def test_an_oversized_file_is_refused_before_decoding() -> None:
    data = jpeg()
    with pytest.raises(InvalidInput, match="larger than"):
        ingest(data, limits=PhotoLimits(max_bytes=len(data) - 1))
    with pytest.raises(InvalidInput, match="empty"):
        ingest(b"", limits=LIMITS)


def test_save_is_content_addressed_atomic_and_idempotent(tmp_path: Path) -> None:
    folder = photo_folder(tmp_path / "office.db")
    assert folder == tmp_path / "office.photos"
    photo = ingest(jpeg(exif=gps_exif()), limits=LIMITS)
    path = save(photo, folder)
    assert path == folder / photo.sha256[:2] / f"{photo.sha256}.jpg"
    assert path.read_bytes() == photo.data
    assert save(photo, folder) == path
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary left
    assert find_photo(folder, photo.sha256) == path
    assert find_photo(folder, "0" * 64) is None
    assert find_photo(folder, "../" + photo.sha256[3:]) is None
