"""Bank details read out of evidence screenshots: QR codes (VietQR / EMVCo) and text (OCR).

Everything here is a plain blocking function on image bytes (JPEG, PNG or WebP): the bot calls
them in a worker thread. QR codes are decoded with zxing-cpp; OCR runs the `tesseract` program
(Debian: `apt-get install tesseract-ocr tesseract-ocr-vie`), and is simply off when it is missing.
"""

from __future__ import annotations

import functools
import io
import logging
import os
import re
import shutil
import subprocess
import threading
import unicodedata
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

import zxingcpp
from PIL import Image, ImageOps, ImageStat

from handlers.banks import bank_by_bin
from handlers.evidence import MAX_IMAGE_PIXELS
from handlers.extract import Indicator, extract_indicators

__all__ = ["QrPayment", "ocr_available", "ocr_text", "parse_vietqr", "read_qr"]

log = logging.getLogger(__name__)

# Telegram hands bots files of at most 20 MB. Pictures declaring more pixels than evidence may
# have are refused before they are decoded (decompression bombs): the same limit as at receipt.
MAX_BYTES = 20 * 1024 * 1024
MAX_PIXELS = MAX_IMAGE_PIXELS
# Only the formats residents send as pictures: Pillow's rarer decoders stay out of reach.
_FORMATS = ("JPEG", "PNG", "WEBP")


@dataclass(frozen=True)
class QrPayment:
    """What a VietQR / EMVCo merchant-presented QR code says; fields it lacks are None."""

    bin: str | None  # NAPAS bank BIN ("970436") from the VietQR template (tag 38)
    bank: str | None  # the project's bank code for that BIN ("VCB"), see handlers/banks.py
    account: str | None  # account or card number from the VietQR template
    name: str | None  # tag 59, merchant / account holder name
    amount: int | None  # tag 54, in VND (None if the code is in another currency)
    message: str | None  # tag 62 sub-tag 08, purpose of the transfer
    raw: str  # the whole payload


def _open_image(data: bytes) -> Image.Image | None:
    """The first frame of `data` decoded and upright, or None if it is no image we accept."""
    if not data or len(data) > MAX_BYTES:
        return None
    try:
        img = Image.open(io.BytesIO(data), formats=_FORMATS)
        # The header gives the size before any pixel is decoded.
        if img.width * img.height > MAX_PIXELS:
            log.info("image refused: %d×%d pixels is too large", img.width, img.height)
            return None
        img.load()
        # A photo of a phone screen carries its rotation in EXIF only.
        return ImageOps.exif_transpose(img)
    except Exception as exc:  # hostile files make Pillow raise OSError, struct.error, …
        log.debug("not an image we read: %r", exc)
        return None


def _grey(img: Image.Image) -> Image.Image:
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        # Transparent screenshots: put them on white, not on black.
        rgba = img.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        canvas.alpha_composite(rgba)
        img = canvas
    return img.convert("L")


# ---------------------------------------------------------------------------------------------
# QR codes


_QR_FORMATS = zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)


def read_qr(data: bytes) -> list[str]:
    """The text of every QR code in the image `data`, in reading order, without duplicates.

    Returns [] when there is none or `data` is not a JPEG, PNG or WebP image.
    """
    img = _open_image(data)
    if img is None:
        return []
    try:
        found = zxingcpp.read_barcodes(
            _grey(img),
            formats=_QR_FORMATS,
            text_mode=zxingcpp.TextMode.Plain,
        )
    except (RuntimeError, ValueError, TypeError) as exc:
        log.warning("QR decoding failed: %s", exc)
        return []
    return list(dict.fromkeys(b.text for b in found if b.valid and b.text))


# EMVCo merchant-presented QR (the format behind VietQR). The PyPI packages that parse VietQR
# (vietnam-qr-pay, vietqr-emvco, napas-qr-python) are single-release projects with no tests to
# speak of; the format is a few dozen lines of strict TLV, so it is parsed here.

_TLV_RE = re.compile(r"[0-9]{4}")
_CRC_RE = re.compile(r"[0-9A-Fa-f]{4}")
_NAPAS_GUID = "A000000727"  # the VietQR (NAPAS) application identifier in tags 26–51
_VND = "704"  # ISO 4217 numeric code, tag 53


def _tlv(s: str) -> dict[str, str] | None:
    """Tag → value of an EMVCo TLV string (2-digit tag, 2-digit length), None if malformed."""
    out: dict[str, str] = {}
    i = 0
    while i < len(s):
        head = s[i : i + 4]
        if not _TLV_RE.fullmatch(head):
            return None
        tag, length = head[:2], int(head[2:])
        value = s[i + 4 : i + 4 + length]
        if length == 0 or len(value) != length or tag in out:
            return None
        out[tag] = value
        i += 4 + length
    return out


def crc16_ccitt_false(data: bytes) -> int:
    """CRC-16/CCITT-FALSE (polynomial 0x1021, initial 0xFFFF), as EMVCo tag 63 uses."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
            crc &= 0xFFFF
    return crc


def _amount(value: str | None, currency: str | None) -> int | None:
    if value is None or (currency is not None and currency != _VND):
        return None
    if not re.fullmatch(r"[0-9]{1,13}(?:\.[0-9]{0,2})?", value):
        return None
    try:
        amount = Decimal(value)
    except InvalidOperation:
        return None
    return int(amount) if amount == amount.to_integral_value() else None


def _text(value: str | None) -> str | None:
    value = (value or "").strip()
    return value or None


def parse_vietqr(payload: str) -> QrPayment | None:
    """The payment a VietQR / EMVCo QR payload describes, or None if it is not one.

    The payload must be well-formed EMVCo TLV starting with the format indicator (tag 00 = 01)
    and ending with a valid CRC (tag 63); nested templates (tags 26–51, 62) must be well-formed
    too. `bin`, `bank` and `account` are only set for a NAPAS (VietQR) account template.
    """
    raw = payload.strip()
    if not raw.startswith("000201") or len(raw) > 512:
        return None
    # Tag 63 (CRC) is last; its checksum covers everything before it, including "6304".
    if len(raw) < 8 or raw[-8:-4] != "6304":
        return None
    if not _CRC_RE.fullmatch(raw[-4:]):
        return None
    if crc16_ccitt_false(raw[:-4].encode("utf-8")) != int(raw[-4:], 16):
        return None
    top = _tlv(raw)
    if top is None or list(top)[-1] != "63":
        return None

    bin_ = account = None
    for tag in sorted(t for t in top if 26 <= int(t) <= 51):
        template = _tlv(top[tag])
        if template is None:
            return None
        if template.get("00", "").upper() != _NAPAS_GUID or bin_ is not None:
            continue
        beneficiary = _tlv(template.get("01", ""))
        if beneficiary is None:
            return None
        bin_ = _text(beneficiary.get("00"))
        account = _text(beneficiary.get("01"))

    message = None
    if "62" in top:
        additional = _tlv(top["62"])
        if additional is None:
            return None
        message = _text(additional.get("08"))

    bank = bank_by_bin(bin_) if bin_ else None
    return QrPayment(
        bin=bin_,
        bank=bank.code if bank else None,
        account=account,
        name=_text(top.get("59")),
        amount=_amount(top.get("54"), top.get("53")),
        message=message,
        raw=raw,
    )


# ---------------------------------------------------------------------------------------------
# OCR

_OCR_LANGS = ("vie", "eng")
# Tesseract reads text best at a cap height of ~20–40 px: a 1080-px-wide screenshot is right,
# a thumbnail needs enlarging and a 50 Mpx photo only costs time.
_OCR_MIN_SIDE = 1000
_OCR_MAX_SIDE = 2600
_INSTALL_HINT = "apt-get install tesseract-ocr tesseract-ocr-vie"


_probe_lock = threading.Lock()


def _tesseract() -> tuple[str, str] | None:
    """(path of tesseract, "vie+eng" or what of it is installed), or None; logged once."""
    with _probe_lock:  # OCR runs in several threads at once: probe (and log) only once
        return _probe_tesseract()


@functools.cache
def _probe_tesseract() -> tuple[str, str] | None:
    path = shutil.which("tesseract")
    if path is None:
        log.info("OCR of screenshots is off: tesseract is not installed (%s)", _INSTALL_HINT)
        return None
    try:
        out = subprocess.run(
            [path, "--list-langs"], capture_output=True, timeout=10, check=True
        ).stdout.decode("utf-8", "replace")
    except (OSError, subprocess.SubprocessError) as exc:
        log.info("OCR of screenshots is off: `tesseract --list-langs` failed (%s)", exc)
        return None
    installed = set(out.split())
    langs = [lang for lang in _OCR_LANGS if lang in installed]
    if not langs:
        log.info("OCR of screenshots is off: no vie/eng language data (%s)", _INSTALL_HINT)
        return None
    if "vie" not in langs:
        log.info("OCR of screenshots without Vietnamese: install tesseract-ocr-vie")
    return path, "+".join(langs)


def ocr_available() -> bool:
    """Whether `ocr_text` can run: tesseract with Vietnamese or English data is installed."""
    return _tesseract() is not None


def _ocr_input(img: Image.Image) -> bytes:
    """`img` as a grey PNG scaled to a size tesseract reads well, dark mode made light."""
    grey = _grey(img)
    side = max(grey.size)
    scale = 1.0
    if side < _OCR_MIN_SIDE:
        scale = min(3.0, _OCR_MIN_SIDE / side)
    elif side > _OCR_MAX_SIDE:
        scale = _OCR_MAX_SIDE / side
    if scale != 1.0:
        size = (max(1, round(grey.width * scale)), max(1, round(grey.height * scale)))
        grey = grey.resize(size, Image.Resampling.LANCZOS)
    if ImageStat.Stat(grey).mean[0] < 110:  # dark mode: tesseract wants dark text on light
        grey = ImageOps.invert(grey)
    buf = io.BytesIO()
    grey.save(buf, format="PNG", dpi=(300, 300), compress_level=1)
    return buf.getvalue()


def ocr_text(data: bytes, *, timeout: float = 20.0) -> str | None:
    """The text tesseract reads in the image `data` ("" if none), or None if OCR is off,
    `data` is not a JPEG/PNG/WebP image, or tesseract fails or runs past `timeout` seconds.

    Blocking: call it in a worker thread. The tesseract process is killed on timeout.
    """
    engine = _tesseract()
    if engine is None:
        return None
    img = _open_image(data)
    if img is None:
        return None
    path, langs = engine
    # One thread per process: the bot runs several OCRs at once in its own threads, and
    # tesseract's OpenMP threads then only contend with each other.
    env = {**os.environ, "OMP_THREAD_LIMIT": "1"}
    try:
        done = subprocess.run(
            [path, "stdin", "stdout", "-l", langs, "--psm", "3"],
            input=_ocr_input(img),
            capture_output=True,
            timeout=timeout,
            env=env,
        )
    except subprocess.TimeoutExpired:
        log.warning("OCR gave up after %.0f s", timeout)
        return None
    except OSError as exc:
        log.warning("OCR could not start tesseract: %s", exc)
        return None
    if done.returncode != 0:
        err = done.stderr.decode("utf-8", "replace").strip().splitlines()
        log.warning("OCR failed (tesseract exit %d): %s", done.returncode, err[-1:] or "")
        return None
    text = unicodedata.normalize("NFC", done.stdout.decode("utf-8", "replace"))
    lines = (line.rstrip() for line in text.replace("\f", "").splitlines())
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def read_indicators(data: bytes, ocr: bool = True) -> list[Indicator]:
    """The phones, accounts and links an image shows: VietQR codes first, then its text (OCR,
    unless `ocr` is off: TINBAO_OCR).

    A plain function (QR decoding and OCR take up to a second): call it in a thread. The result
    is only a proposal; the resident confirms it before anything joins the report.
    """
    found: list[Indicator] = []
    for payload in read_qr(data):
        payment = parse_vietqr(payload)
        if payment is not None and payment.account:
            value = f"{payment.bank}:{payment.account}" if payment.bank else payment.account
            found.append(Indicator("bank_account", value, "QR", payment.name))
        elif payment is None:
            found += extract_indicators(payload)  # e.g. a QR code holding a link
    text = ocr_text(data) if ocr and ocr_available() else None
    if text:
        found += extract_indicators(text)
    unique: dict[tuple[str, str], Indicator] = {}
    for item in found:
        unique.setdefault((item.kind, item.value), item)
    return list(unique.values())
