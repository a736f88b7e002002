"""Bank details out of screenshots: VietQR codes (generated with segno) and OCR (tesseract)."""

from __future__ import annotations

import io
import logging
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import segno
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image, ImageDraw, ImageFont, ImageOps

from handlers import screenshots
from handlers.extract import extract_indicators
from handlers.screenshots import (
    QrPayment,
    crc16_ccitt_false,
    ocr_available,
    ocr_text,
    parse_vietqr,
    read_indicators,
    read_qr,
)

# ---------------------------------------------------------------------------------------------
# Building VietQR payloads and images


def tlv(tag: str, value: str) -> str:
    return f"{tag}{len(value):02d}{value}"


def with_crc(body: str) -> str:
    body += "6304"
    return body + f"{crc16_ccitt_false(body.encode()):04X}"


def vietqr(
    bin_: str = "970436",
    account: str = "0123456789",
    name: str | None = "NGUYEN VAN A",
    amount: str | None = "5000000",
    message: str | None = "CHUYEN TIEN COC",
    currency: str = "704",
) -> str:
    beneficiary = tlv("00", bin_) + tlv("01", account)
    body = tlv("00", "01") + tlv("01", "12" if amount else "11")
    body += tlv("38", tlv("00", "A000000727") + tlv("01", beneficiary) + tlv("02", "QRIBFTTA"))
    body += tlv("53", currency)
    if amount:
        body += tlv("54", amount)
    body += tlv("58", "VN")
    if name:
        body += tlv("59", name)
    if message:
        body += tlv("62", tlv("08", message))
    return with_crc(body)


PAYLOAD = vietqr()


def qr_image(text: str, scale: int = 6) -> Image.Image:
    buf = io.BytesIO()
    segno.make_qr(text, error="m").save(buf, kind="png", scale=scale, border=4)
    buf.seek(0)
    return Image.open(buf).convert("RGB")


def encode(img: Image.Image, fmt: str, **kwargs: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kwargs)
    return buf.getvalue()


def screenshot_with_qr(payload: str) -> Image.Image:
    """A 1080×2400 banking-app-like screen: header bar, buttons, lines of text, the QR."""
    canvas = Image.new("RGB", (1080, 2400), "white")
    draw = ImageDraw.Draw(canvas)
    draw.rectangle((0, 0, 1080, 180), fill=(0, 102, 51))
    draw.text((40, 60), "Vietcombank - Nhan tien qua QR", fill="white")
    for i in range(12):
        y = 1400 + i * 70
        draw.rectangle((60, y, 60 + 80 * (i % 9 + 3), y + 30), fill=(200, 200, 200))
    draw.ellipse((880, 220, 1020, 360), outline="black", width=6)
    draw.rounded_rectangle((100, 2200, 980, 2320), radius=40, fill=(0, 102, 51))
    canvas.paste(qr_image(payload, scale=7), (250, 420))
    return canvas


# ---------------------------------------------------------------------------------------------
# parse_vietqr


def test_crc_is_ccitt_false() -> None:
    # The standard check value of CRC-16/CCITT-FALSE.
    assert crc16_ccitt_false(b"123456789") == 0x29B1


def test_parse_vietqr_reads_every_field() -> None:
    assert parse_vietqr(PAYLOAD) == QrPayment(
        bin="970436",
        bank="VCB",
        account="0123456789",
        name="NGUYEN VAN A",
        amount=5_000_000,
        message="CHUYEN TIEN COC",
        raw=PAYLOAD,
    )


def test_parse_vietqr_static_code_without_amount_or_name() -> None:
    payload = vietqr(bin_="970422", account="9704229200112233", amount=None, name=None)
    payment = parse_vietqr(payload)
    assert payment is not None
    assert (payment.bin, payment.bank, payment.account) == ("970422", "MB", "9704229200112233")
    assert payment.amount is None and payment.name is None
    assert payment.message == "CHUYEN TIEN COC"


def test_parse_vietqr_accepts_lower_case_crc_and_whitespace() -> None:
    lower = PAYLOAD[:-4] + PAYLOAD[-4:].lower()
    payment = parse_vietqr(f"  {lower}\n")
    assert payment is not None and payment.account == "0123456789"


def test_parse_vietqr_unknown_bin_keeps_bin_without_bank() -> None:
    payment = parse_vietqr(vietqr(bin_="999999"))
    assert payment is not None
    assert payment.bin == "999999" and payment.bank is None


def test_parse_vietqr_amount_in_another_currency_is_not_vnd() -> None:
    payment = parse_vietqr(vietqr(currency="840", amount="12.50"))
    assert payment is not None
    assert payment.amount is None and payment.account == "0123456789"


def test_parse_vietqr_other_emvco_scheme_has_no_account() -> None:
    body = tlv("00", "01") + tlv("01", "11")
    body += tlv("26", tlv("00", "A000000775") + tlv("01", "MERCHANT42"))
    body += tlv("58", "VN") + tlv("59", "CUA HANG ABC")
    payment = parse_vietqr(with_crc(body))
    assert payment is not None
    assert payment.bin is None and payment.bank is None and payment.account is None
    assert payment.name == "CUA HANG ABC"


def test_parse_vietqr_bad_crc_is_none() -> None:
    wrong = f"{(int(PAYLOAD[-4:], 16) + 1) % 0x10000:04X}"
    assert parse_vietqr(PAYLOAD[:-4] + wrong) is None
    # A changed digit of the account number with the old CRC.
    assert parse_vietqr(PAYLOAD.replace("0123456789", "0123456788")) is None


@pytest.mark.parametrize(
    "payload",
    [
        "https://vietcombank.com.vn",
        "",
        "000201",
        "00020101021263",
        # Well-formed CRC but a length that runs past the end of the nested template.
        with_crc(tlv("00", "01") + "3815" + tlv("00", "A000000727")),
        # A tag after the CRC.
        with_crc(tlv("00", "01"))[:-8] + with_crc(tlv("00", "01"))[-8:] + tlv("58", "VN"),
        # Duplicate tag.
        with_crc(tlv("00", "01") + tlv("59", "A") + tlv("59", "B")),
        # A CRC that int(…, 16) would take but is not four hex digits.
        with_crc(tlv("00", "01"))[:-4] + "+1_F",
        # Tag 62 that is not TLV.
        with_crc(tlv("00", "01") + tlv("62", "HELLO")),
    ],
)
def test_parse_vietqr_rejects_what_is_not_emvco(payload: str) -> None:
    assert parse_vietqr(payload) is None


@given(st.text(max_size=300))
def test_parse_vietqr_never_raises(text: str) -> None:
    result = parse_vietqr("000201" + text)
    assert result is None or isinstance(result, QrPayment)


@given(
    account=st.from_regex(r"[0-9]{6,19}", fullmatch=True),
    amount=st.integers(min_value=1, max_value=10**12),
    name=st.from_regex(r"[A-Z][A-Z ]{0,23}[A-Z]", fullmatch=True),
)
def test_parse_vietqr_round_trips(account: str, amount: int, name: str) -> None:
    payment = parse_vietqr(vietqr(account=account, amount=str(amount), name=name))
    assert payment is not None
    assert (payment.account, payment.amount, payment.name) == (account, amount, name)


# ---------------------------------------------------------------------------------------------
# read_qr


def test_read_qr_png() -> None:
    payloads = read_qr(encode(qr_image(PAYLOAD), "PNG"))
    assert payloads == [PAYLOAD]
    payment = parse_vietqr(payloads[0])
    assert payment is not None and (payment.bank, payment.account) == ("VCB", "0123456789")


def test_read_qr_jpeg() -> None:
    assert read_qr(encode(qr_image(PAYLOAD), "JPEG", quality=70)) == [PAYLOAD]


def test_read_qr_webp_with_transparency() -> None:
    # Black modules on a transparent background: decoding must put it on white, not black.
    img = Image.new("RGBA", qr_image(PAYLOAD).size, (0, 0, 0, 0))
    img.putalpha(ImageOps.invert(qr_image(PAYLOAD).convert("L")))
    assert read_qr(encode(img, "WEBP", lossless=True)) == [PAYLOAD]


def test_read_qr_in_a_screenshot() -> None:
    data = encode(screenshot_with_qr(PAYLOAD), "JPEG", quality=85)
    payloads = read_qr(data)
    assert payloads == [PAYLOAD]
    payment = parse_vietqr(payloads[0])
    assert payment is not None and payment.amount == 5_000_000


def test_read_qr_two_codes_rotated_photo() -> None:
    canvas = Image.new("RGB", (1600, 900), "white")
    canvas.paste(qr_image(PAYLOAD, scale=5), (60, 60))
    canvas.paste(qr_image("https://example.com/pay", scale=5), (900, 60))
    data = encode(canvas.rotate(90, expand=True, fillcolor="white"), "PNG")
    assert sorted(read_qr(data)) == sorted([PAYLOAD, "https://example.com/pay"])


def test_read_qr_plain_url_is_not_a_payment() -> None:
    url = "https://vietcombank-xacminh.top/login?id=123"
    payloads = read_qr(encode(qr_image(url), "PNG"))
    assert payloads == [url]
    assert parse_vietqr(payloads[0]) is None


def test_read_qr_image_without_qr() -> None:
    img = Image.new("RGB", (640, 480), "white")
    ImageDraw.Draw(img).rectangle((100, 100, 300, 300), fill="black")
    assert read_qr(encode(img, "PNG")) == []


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not an image at all",
        b"\x89PNG\r\n\x1a\n" + b"\x00" * 64,  # a PNG signature and nothing valid after it
        b"\xff\xd8\xff\xe0" + bytes(range(256)) * 4,  # a truncated JPEG
        b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n",
    ],
)
def test_read_qr_garbage_is_empty(data: bytes) -> None:
    assert read_qr(data) == []


def test_read_qr_refuses_unsupported_formats() -> None:
    # BMP decodes fine in Pillow, but only what residents send as pictures is opened.
    assert read_qr(encode(qr_image(PAYLOAD), "BMP")) == []


def test_read_qr_refuses_decompression_bombs() -> None:
    bomb = encode(Image.new("1", (8000, 8000), 1), "PNG")
    assert len(bomb) < 200_000  # small on the wire…
    started = time.monotonic()
    assert read_qr(bomb) == []  # …but 64 Mpx: refused from its header alone
    assert time.monotonic() - started < 1.0


# ---------------------------------------------------------------------------------------------
# OCR

_FONT_PATHS = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
]
_FONT = next((p for p in _FONT_PATHS if Path(p).is_file()), None)

needs_ocr = pytest.mark.skipif(
    not ocr_available(),
    reason="tesseract with vie/eng data is not installed "
    "(apt-get install tesseract-ocr tesseract-ocr-vie; .ci/run does it)",
)
needs_font = pytest.mark.skipif(
    _FONT is None, reason="no DejaVuSans.ttf with Vietnamese glyphs (apt-get install fonts-dejavu)"
)

TRANSFER_LINES = [
    "Chuyển khoản thành công",
    "Chuyển khoản tới STK 0123456789",
    "Ngân hàng: Vietcombank",
    "Người nhận: NGUYEN VAN A",
    "Số tiền: 5.000.000đ",
    "Nội dung: tien coc thue nha",
]


def text_screenshot(lines: list[str], dark: bool = False) -> bytes:
    """A 1080×2400 phone screenshot with `lines` in 40 px DejaVu Sans, as a JPEG."""
    assert _FONT is not None
    bg, fg = ((18, 18, 18), (235, 235, 235)) if dark else ((255, 255, 255), (20, 20, 20))
    img = Image.new("RGB", (1080, 2400), bg)
    draw = ImageDraw.Draw(img)
    draw.rectangle((0, 0, 1080, 160), fill=(0, 102, 51))
    font = ImageFont.truetype(_FONT, 40)
    for i, line in enumerate(lines):
        draw.text((60, 300 + i * 90), line, font=font, fill=fg)
    return encode(img, "JPEG", quality=90)


@needs_ocr
@needs_font
@pytest.mark.parametrize("dark", [False, True], ids=["light", "dark-mode"])
def test_ocr_reads_a_transfer_screenshot(dark: bool) -> None:
    text = ocr_text(text_screenshot(TRANSFER_LINES, dark=dark))
    assert text is not None
    assert "0123456789" in text
    assert "Vietcombank" in text
    assert "NGUYEN VAN A" in text
    # The Vietnamese data reads the diacritics too.
    assert "Chuyển khoản" in text

    accounts = [i for i in extract_indicators(text) if i.kind == "bank_account"]
    assert any("0123456789" in i.value for i in accounts), accounts


@needs_ocr
@needs_font
def test_ocr_can_be_turned_off_and_qr_codes_are_still_read() -> None:
    screenshot = text_screenshot(TRANSFER_LINES)
    assert any("0123456789" in i.value for i in read_indicators(screenshot))
    assert read_indicators(screenshot, ocr=False) == []  # TINBAO_OCR=false
    qr = encode(screenshot_with_qr(vietqr(account="0987654321")), "PNG")
    assert [i.value for i in read_indicators(qr, ocr=False)] == ["VCB:0987654321"]


@needs_ocr
def test_ocr_blank_image_is_empty_text() -> None:
    assert ocr_text(encode(Image.new("RGB", (1080, 2400), "white"), "PNG")) == ""


@needs_ocr
def test_ocr_garbage_and_bombs_are_none() -> None:
    assert ocr_text(b"not an image") is None
    assert ocr_text(encode(Image.new("1", (8000, 8000), 1), "PNG")) is None


@needs_ocr
@needs_font
def test_ocr_small_image_is_enlarged() -> None:
    # A 270×600 thumbnail: text 10 px high, too small for tesseract as it is.
    img = Image.open(io.BytesIO(text_screenshot(TRANSFER_LINES))).resize((270, 600))
    text = ocr_text(encode(img, "PNG"))
    assert text is not None and "0123456789" in text


@needs_ocr
@needs_font
def test_ocr_timeout_gives_none() -> None:
    started = time.monotonic()
    assert ocr_text(text_screenshot(TRANSFER_LINES), timeout=0.01) is None
    assert time.monotonic() - started < 5.0


@pytest.fixture
def no_tesseract(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    real_which = shutil.which
    monkeypatch.setattr(
        screenshots.shutil,
        "which",
        lambda cmd, *a, **k: None if cmd == "tesseract" else real_which(cmd, *a, **k),
    )
    screenshots._probe_tesseract.cache_clear()
    yield
    screenshots._probe_tesseract.cache_clear()


def test_ocr_off_without_tesseract(no_tesseract: None, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="handlers.screenshots")
    assert ocr_available() is False
    assert ocr_text(encode(qr_image(PAYLOAD), "PNG")) is None
    assert ocr_text(b"anything") is None
    off = [r for r in caplog.records if "OCR of screenshots is off" in r.getMessage()]
    # One INFO line per process, telling how to install it.
    assert len(off) == 1
    assert off[0].levelno == logging.INFO
    assert "tesseract-ocr-vie" in off[0].getMessage()
    # QR decoding does not need tesseract.
    assert read_qr(encode(qr_image(PAYLOAD), "PNG")) == [PAYLOAD]
