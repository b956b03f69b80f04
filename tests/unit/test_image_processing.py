"""Rendering uploads: pydicom's bundled samples, small DICOMs made here, and Pillow-made photos."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

from chalicelib.images import processing
from chalicelib.images.model import (
    DICOM,
    JPEG,
    NO_PIXELS,
    PNG,
    TOO_MANY_PIXELS,
    TYPE_MISMATCH,
    UNREADABLE,
    UploadRejected,
)
from chalicelib.images.processing import render

ROOT = Path(__file__).resolve().parents[2]


def sample(name: str) -> bytes:
    path = get_testdata_file(name)
    assert path, name
    return Path(str(path)).read_bytes()


def made_dicom(pixels: list[list[int]], **tags: Any) -> bytes:
    """A Part 10 file (preamble + DICM) holding unsigned 16-bit greyscale pixels."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    array = np.array(pixels, dtype=np.uint16)
    ds.Rows, ds.Columns = array.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    ds.PixelData = array.tobytes()
    for name, value in tags.items():
        setattr(ds, name, value)
    buffer = io.BytesIO()
    pydicom.dcmwrite(buffer, ds, enforce_file_format=True)
    return buffer.getvalue()


def grey(png: bytes | None) -> list[list[int]]:
    assert png is not None
    with Image.open(io.BytesIO(png)) as picture:
        assert picture.format == "PNG"
        return np.asarray(picture.convert("L")).tolist()  # type: ignore[no-any-return]


def photo(fmt: str, size: tuple[int, int] = (400, 200), mode: str = "RGB", **save: Any) -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, (30, 120, 200) if mode == "RGB" else 0).save(buffer, format=fmt, **save)
    return buffer.getvalue()


def rejected(content_type: str, data: bytes) -> str:
    with pytest.raises(UploadRejected) as refused:
        render(content_type, data)
    return refused.value.reason


# --- DICOM ------------------------------------------------------------------------------------


def test_the_ct_sample_gets_a_png_preview_and_thumbnail_at_its_own_size() -> None:
    made = render(DICOM, sample("CT_small.dcm"))
    assert (made.width, made.height) == (128, 128)
    assert made.preview_type == PNG and made.thumb_type == PNG
    pixels = np.array(grey(made.preview))
    assert pixels.shape == (128, 128)
    assert pixels.min() == 0 and pixels.max() == 255  # no window tags: the full range is stretched


def test_the_mr_sample_is_rendered_through_its_own_window_tags() -> None:
    data = sample("MR_small.dcm")
    ds = pydicom.dcmread(io.BytesIO(data))
    assert (float(ds.WindowCenter), float(ds.WindowWidth)) == (600.0, 1600.0)
    windowed = grey(render(DICOM, data).preview)
    del ds.WindowCenter, ds.WindowWidth
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    stretched = grey(render(DICOM, buffer.getvalue()).preview)
    assert windowed != stretched


def test_a_window_maps_values_below_it_to_black_above_it_to_white_and_its_centre_to_mid_grey() -> None:
    data = made_dicom([[0, 1000, 1500, 2000, 3000]], WindowCenter=1500, WindowWidth=1000)
    assert grey(render(DICOM, data).preview) == [[0, 0, 128, 255, 255]]


def test_rescale_slope_and_intercept_apply_before_the_window() -> None:
    data = made_dicom(
        [[0, 500, 1000]], RescaleSlope=2, RescaleIntercept=-1000, WindowCenter=0, WindowWidth=1001
    )  # stored 0/500/1000 are -1000/0/1000 after rescale
    assert grey(render(DICOM, data).preview) == [[0, 128, 255]]


def test_monochrome1_is_inverted_so_low_values_show_white() -> None:
    data = made_dicom(
        [[0, 1000, 1500, 2000, 3000]], WindowCenter=1500, WindowWidth=1000, PhotometricInterpretation="MONOCHROME1"
    )
    assert grey(render(DICOM, data).preview) == [[255, 255, 127, 0, 0]]


def test_a_multi_valued_window_uses_the_first_pair() -> None:
    data = made_dicom([[0, 1500, 3000]], WindowCenter=[1500, 40], WindowWidth=[1000, 400])
    assert grey(render(DICOM, data).preview) == [[0, 128, 255]]


def test_a_large_dicom_gets_a_thumbnail_no_wider_than_320_pixels() -> None:
    made = render(DICOM, made_dicom([[i % 4096 for i in range(800)]] * 400))
    with Image.open(io.BytesIO(made.thumb)) as thumb:
        assert thumb.size == (320, 160)
    assert (made.width, made.height) == (800, 400)


def test_a_dicom_without_an_image_is_rejected() -> None:
    assert rejected(DICOM, sample("rtplan.dcm")) == NO_PIXELS


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_bytes_with_the_dicom_marker_that_do_not_parse_are_rejected() -> None:
    assert rejected(DICOM, b"\0" * 128 + b"DICM" + b"\xff" * 64) in {UNREADABLE, NO_PIXELS}


def test_a_dicom_over_the_pixel_budget_is_rejected_before_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(processing, "MAX_PIXELS", 100)
    assert rejected(DICOM, made_dicom([[0] * 20] * 20)) == TOO_MANY_PIXELS


# --- type checks ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("declared", "data"),
    [
        (DICOM, photo("PNG")),
        (JPEG, photo("PNG")),
        (PNG, photo("JPEG")),
        (PNG, b"<html><script>alert(1)</script></html>"),
        (JPEG, b"%PDF-1.7\n"),
        (PNG, b"\0" * 128 + b"DICM" + b"\0" * 64),
    ],
    ids=["png-as-dicom", "png-as-jpeg", "jpeg-as-png", "html-as-png", "pdf-as-jpeg", "dicom-as-png"],
)
def test_a_file_that_is_not_what_its_type_says_is_rejected(declared: str, data: bytes) -> None:
    assert rejected(declared, data) == TYPE_MISMATCH


def test_an_empty_upload_is_rejected() -> None:
    assert rejected(JPEG, b"") == "empty"


# --- photos -----------------------------------------------------------------------------------


def test_a_jpeg_photo_gets_a_jpeg_thumbnail_no_larger_than_320_pixels() -> None:
    made = render(JPEG, photo("JPEG", (1200, 800)))
    assert (made.width, made.height, made.preview) == (1200, 800, None)
    with Image.open(io.BytesIO(made.thumb)) as thumb:
        assert (thumb.format, thumb.size) == ("JPEG", (320, 213))


def test_a_photo_taken_sideways_gets_an_upright_thumbnail() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to show
    made = render(JPEG, photo("JPEG", (400, 200), exif=exif.tobytes()))
    assert (made.width, made.height) == (200, 400)
    with Image.open(io.BytesIO(made.thumb)) as thumb:
        assert thumb.size == (160, 320)


def test_a_truncated_jpeg_is_rejected_as_unreadable() -> None:
    whole = photo("JPEG", (600, 600))
    assert rejected(JPEG, whole[: len(whole) // 2]) == UNREADABLE


def test_a_png_with_a_broken_chunk_is_rejected_as_unreadable() -> None:
    whole = bytearray(photo("PNG", (64, 64)))
    whole[40] ^= 0xFF  # inside the first data chunk: its CRC no longer matches
    assert rejected(PNG, bytes(whole)) == UNREADABLE


def test_a_transparent_png_is_flattened_on_white_in_its_thumbnail() -> None:
    made = render(PNG, photo("PNG", (10, 10), mode="RGBA"))
    with Image.open(io.BytesIO(made.thumb)) as thumb:
        assert thumb.convert("RGB").getpixel((5, 5)) in {(255, 255, 255), (254, 254, 254)}


def test_a_16_bit_greyscale_png_is_stretched_to_full_range_in_its_thumbnail() -> None:
    buffer = io.BytesIO()
    Image.fromarray(np.array([[1000, 1200], [1400, 1600]], dtype=np.uint16)).save(buffer, format="PNG")
    made = render(PNG, buffer.getvalue())
    with Image.open(io.BytesIO(made.thumb)) as thumb:
        values = np.asarray(thumb.convert("L"))
    assert values.min() <= 5 and values.max() >= 250


def test_a_photo_over_the_pixel_budget_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(processing, "MAX_PIXELS", 100)
    assert rejected(PNG, photo("PNG", (20, 20))) == TOO_MANY_PIXELS


# --- cold start -------------------------------------------------------------------------------


def test_importing_the_app_loads_neither_pydicom_nor_numpy_nor_pillow() -> None:
    code = "import sys, app; print(sorted(m for m in ('pydicom', 'numpy', 'PIL') if m in sys.modules))"
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "", "AWS_DEFAULT_REGION": "us-east-1", "PYTHONPATH": str(ROOT)},
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "[]"
