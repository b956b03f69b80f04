"""Turning uploaded bytes into something a browser can show: sniff, decode, render, thumbnail.

pydicom, numpy and Pillow are imported inside the functions, never at module level: this module is
reachable from ``app`` and the API functions must not pay for them at cold start (a test checks).

``render`` trusts nothing about the upload but its declared type: the bytes must prove that type
(magic numbers) and decode fully, within a pixel budget, or the upload is rejected with a reason.
"""

from __future__ import annotations

import io
import warnings
from typing import Any

from chalicelib.images.model import (
    DICOM,
    EMPTY,
    JPEG,
    MAX_PIXELS,
    NO_PIXELS,
    PNG,
    THUMB_EDGE,
    TOO_MANY_PIXELS,
    TYPE_MISMATCH,
    UNREADABLE,
    Rendition,
    UploadRejected,
    sniff,
)
from chalicelib.platform.observability import logger

_PIL_FORMATS = {JPEG: "JPEG", PNG: "PNG"}
_ORIENTATION = 0x0112  # EXIF tag


def render(declared_type: str, data: bytes) -> Rendition:
    """Rendition of a valid upload, or UploadRejected with the reason. Decoders meet hostile
    input here, and they fail in many ways (struct errors, index errors ...): whatever escapes
    the specific checks still ends as a rejection, so an upload is never left half-handled."""
    if not data:
        raise UploadRejected(EMPTY)
    found = sniff(data[:132])
    if found is None or found != declared_type:
        raise UploadRejected(TYPE_MISMATCH)
    try:
        return render_dicom(data) if found == DICOM else render_photo(found, data)
    except UploadRejected:
        raise
    except Exception as exc:  # see above; the type is logged, never the bytes
        logger.warning("image did not decode", extra={"error": type(exc).__name__})
        raise UploadRejected(UNREADABLE) from exc


# --- DICOM ------------------------------------------------------------------------------------


def render_dicom(data: bytes) -> Rendition:
    """A PNG preview and thumbnail of the first frame, windowed as the file asks."""
    import numpy as np
    import pydicom
    from pydicom.errors import InvalidDicomError
    from pydicom.pixels import apply_modality_lut

    try:
        ds = pydicom.dcmread(io.BytesIO(data))  # insists on the preamble and "DICM"
    except (InvalidDicomError, ValueError, TypeError, KeyError, EOFError, OSError) as exc:
        raise UploadRejected(UNREADABLE) from exc
    if "PixelData" not in ds:
        raise UploadRejected(NO_PIXELS)
    try:
        rows, cols = int(ds.Rows), int(ds.Columns)
        frames = int(ds.get("NumberOfFrames", 1) or 1)
        samples = int(ds.get("SamplesPerPixel", 1) or 1)
    except (AttributeError, TypeError, ValueError) as exc:
        raise UploadRejected(UNREADABLE) from exc
    if rows < 1 or cols < 1:
        raise UploadRejected(NO_PIXELS)
    if rows * cols * frames * samples > MAX_PIXELS:
        raise UploadRejected(TOO_MANY_PIXELS)
    try:
        pixels = ds.pixel_array  # raises when no decoder handles the transfer syntax
    except Exception as exc:  # any decoder failure means we cannot show it
        raise UploadRejected(UNREADABLE) from exc
    if frames > 1:
        pixels = pixels[0]
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).upper()
    if samples == 1 and pixels.ndim == 2:
        grey = window_to_8bit(np.asarray(apply_modality_lut(pixels, ds), dtype=np.float64), ds)
        if photometric == "MONOCHROME1":  # low values are white
            grey = 255 - grey
        return _png_rendition(grey, DICOM)
    if pixels.ndim == 3 and pixels.shape[-1] == 3:
        # pydicom hands back RGB for YBR data; scale to 8 bits if it was stored deeper.
        bits = int(ds.get("BitsStored", 8) or 8)
        rgb = pixels if bits <= 8 else (pixels.astype(np.float64) * (255 / (2**bits - 1)))
        return _png_rendition(np.clip(rgb, 0, 255).astype(np.uint8), DICOM)
    raise UploadRejected(UNREADABLE)


def _first(value: Any) -> float | None:
    if value is None:
        return None
    try:
        return float(value[0] if isinstance(value, list | tuple) or hasattr(value, "__getitem__") else value)
    except (TypeError, ValueError, IndexError):
        return None


def window_to_8bit(values: Any, ds: Any) -> Any:
    """Modality values (after RescaleSlope/Intercept) to 0..255 through the file's VOI window
    (WindowCenter/WindowWidth, first pair; LINEAR, LINEAR_EXACT or SIGMOID as DICOM PS3.3
    C.11.2.1.2 defines them). Without a usable window, the full value range is stretched."""
    import numpy as np

    center = _first(ds.get("WindowCenter"))
    width = _first(ds.get("WindowWidth"))
    function = str(ds.get("VOILUTFunction", "LINEAR") or "LINEAR").upper()
    if center is None or width is None or width <= 0 or (width < 1 and function != "LINEAR_EXACT"):
        lo, hi = float(values.min()), float(values.max())
        if hi <= lo:
            return np.zeros(values.shape, dtype=np.uint8)
        out = (values - lo) / (hi - lo) * 255.0
    elif function == "SIGMOID":
        out = 255.0 / (1.0 + np.exp(-4.0 * (values - center) / width))
    elif function == "LINEAR_EXACT":
        out = ((values - center) / width + 0.5) * 255.0
    elif width == 1:
        out = np.where(values < center - 0.5, 0.0, 255.0)
    else:
        out = ((values - (center - 0.5)) / (width - 1) + 0.5) * 255.0
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def _png_rendition(pixels: Any, content_type: str) -> Rendition:
    from PIL import Image

    picture = Image.fromarray(pixels)
    preview = _encode(picture, "PNG")
    thumb = picture.copy()
    thumb.thumbnail((THUMB_EDGE, THUMB_EDGE))
    return Rendition(
        content_type=content_type,
        width=picture.width,
        height=picture.height,
        thumb=_encode(thumb, "PNG"),
        thumb_type=PNG,
        preview=preview,
        preview_type=PNG,
    )


# --- JPEG and PNG -----------------------------------------------------------------------------


def render_photo(content_type: str, data: bytes) -> Rendition:
    """A JPEG thumbnail, upright (EXIF orientation applied), of a fully decoded JPEG or PNG."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data)) as probe:
                if probe.format != _PIL_FORMATS[content_type]:
                    raise UploadRejected(TYPE_MISMATCH)
                width, height = probe.size
                if width * height > MAX_PIXELS:
                    raise UploadRejected(TOO_MANY_PIXELS)
                probe.verify()  # PNG chunk CRCs; cheap structural checks for JPEG
            with Image.open(io.BytesIO(data)) as picture:
                if picture.getexif().get(_ORIENTATION, 1) in {5, 6, 7, 8}:  # shown turned a quarter
                    width, height = height, width
                picture.draft("RGB", (THUMB_EDGE * 2, THUMB_EDGE * 2))  # JPEG: decode at reduced scale
                picture.load()  # a truncated or corrupt file fails here
                thumb = _eight_bit(ImageOps.exif_transpose(picture))
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise UploadRejected(TOO_MANY_PIXELS) from exc
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
            raise UploadRejected(UNREADABLE) from exc
    thumb.thumbnail((THUMB_EDGE, THUMB_EDGE))
    return Rendition(
        content_type=content_type,
        width=width,
        height=height,
        thumb=_encode(thumb, "JPEG", quality=85),
        thumb_type=JPEG,
    )


def _eight_bit(picture: Any) -> Any:
    """RGB or L, 8 bits, alpha flattened on white: what a JPEG thumbnail can hold."""
    from PIL import Image

    if picture.mode in {"I", "I;16", "I;16B", "I;16L", "F"}:  # deep greyscale PNG (exported x-rays)
        import numpy as np

        values = np.asarray(picture, dtype=np.float64)
        lo, hi = float(values.min()), float(values.max())
        scaled = np.zeros(values.shape) if hi <= lo else (values - lo) / (hi - lo) * 255.0
        return Image.fromarray(np.clip(np.rint(scaled), 0, 255).astype(np.uint8))
    if picture.mode in {"RGBA", "LA", "PA"} or (picture.mode == "P" and "transparency" in picture.info):
        rgba = picture.convert("RGBA")
        flat = Image.new("RGB", rgba.size, (255, 255, 255))
        flat.paste(rgba, mask=rgba.getchannel("A"))
        return flat
    if picture.mode in {"L", "RGB"}:
        return picture.copy()
    return picture.convert("RGB")


def _encode(picture: Any, fmt: str, **options: Any) -> bytes:
    buffer = io.BytesIO()
    picture.save(buffer, format=fmt, optimize=True, **options)
    return buffer.getvalue()
