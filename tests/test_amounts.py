"""Amounts of VND as residents write them, in short answers and in longer texts."""

from __future__ import annotations

import pytest

from handlers.extract import find_amounts, parse_amount

AMOUNTS: list[tuple[str, int]] = [
    ("5 triệu", 5_000_000),
    ("5tr", 5_000_000),
    ("5 trieu", 5_000_000),
    ("5 TRIỆU", 5_000_000),
    ("5.000.000đ", 5_000_000),
    ("5.000.000 đ", 5_000_000),
    ("5.000.000 VNĐ", 5_000_000),
    ("5,000,000 VND", 5_000_000),
    ("VND 5,000,000", 5_000_000),
    ("5000000", 5_000_000),
    ("5000000đ", 5_000_000),
    ("5.000.000", 5_000_000),
    ("2,5 triệu", 2_500_000),
    ("2.5tr", 2_500_000),
    ("2.500k", 2_500_000),
    ("500k", 500_000),
    ("500K", 500_000),
    ("500 nghìn", 500_000),
    ("500 ngàn", 500_000),
    ("500 nghin", 500_000),
    ("1 tỷ", 1_000_000_000),
    ("1 tỉ", 1_000_000_000),
    ("1 tỷ 2", 1_200_000_000),
    ("1 tỷ 250 triệu", 1_250_000_000),
    ("1tr5", 1_500_000),
    ("1 triệu rưỡi", 1_500_000),
    ("1 trieu ruoi", 1_500_000),
    ("2 triệu 500 nghìn", 2_500_000),
    ("1tr500k", 1_500_000),
    ("3 củ", 3_000_000),
    ("3 cu", 3_000_000),
    ("50 lít", 5_000_000),
    ("2 tỏi", 2_000_000_000),
    ("200 nghìn đồng", 200_000),
    ("5 triệu đồng", 5_000_000),
    ("khoảng 30 triệu", 30_000_000),
    ("hơn 10 triệu", 10_000_000),
    ("tầm 15tr", 15_000_000),
    ("gần 100 triệu ạ", 100_000_000),
    ("tổng cộng 45.500.000đ", 45_500_000),
    ("1.5 tỷ", 1_500_000_000),
    ("750.000", 750_000),
    ("mất 20 củ rồi", 20_000_000),
    ("0đ", 0),
    # Spelled out, as many elderly residents write it.
    ("hai triệu", 2_000_000),
    ("năm trăm nghìn", 500_000),
    ("2 trăm nghìn", 200_000),
    ("mười lăm triệu", 15_000_000),
    ("hai mươi lăm triệu", 25_000_000),
    ("ba trăm năm mươi nghìn đồng", 350_000),
    ("một trăm linh năm nghìn", 105_000),
    ("khoảng ba triệu rưỡi", 3_500_000),
    ("một tỷ hai", 1_200_000_000),
]


@pytest.mark.parametrize(("text", "vnd"), [pytest.param(t, v, id=t) for t, v in AMOUNTS])
def test_parse_amount_reads_every_common_form(text: str, vnd: int) -> None:
    assert parse_amount(text) == vnd


NOT_AMOUNTS = [
    "không nhớ",
    "abc",
    "",
    "   ",
    "0912345678",
    "50 lít xăng",
    "tôi không biết",
    "😡",
    "2 lần, lần nào cũng vài",
    "mất nhiều lắm",
    "năm 2024",
    "hai lần",
    "ba mẹ tôi",
]


@pytest.mark.parametrize("text", [pytest.param(t, id=t or "empty") for t in NOT_AMOUNTS])
def test_parse_amount_is_none_for_non_amounts(text: str) -> None:
    assert parse_amount(text) is None


def test_parse_amount_takes_the_first_of_several() -> None:
    assert parse_amount("lần 1: 5tr, lần 2: 3tr") == 5_000_000


def test_find_amounts_reports_value_and_raw_in_order() -> None:
    text = "Tôi chuyển 5tr vào STK 0123456789 ngày 20/11/2026, rồi thêm 2.500.000đ và 500k phí"
    assert find_amounts(text) == [
        (5_000_000, "5tr"),
        (2_500_000, "2.500.000đ"),
        (500_000, "500k"),
    ]


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("gọi 0912345678 năm 2026", id="phone-and-year"),
        pytest.param("STK 0123456789 Vietcombank", id="account"),
        pytest.param("OTP 123456", id="otp"),
        pytest.param("ngày 20.11.2026", id="date"),
        pytest.param("5 ngân hàng", id="ngan-hang-is-not-ngan"),
        pytest.param("đổ 50 lít xăng", id="litres-of-fuel"),
        pytest.param("tôi có 2 con", id="small-plain-number"),
        pytest.param("mạng 100mbps, 4kg", id="units-glued-to-words"),
        pytest.param("3 tôi đi cùng nhau", id="toi-is-not-toi-billion"),
        pytest.param("2 trường học, 3 cứ thế", id="accented-words-are-not-units"),
    ],
)
def test_find_amounts_ignores_numbers_without_money_units(text: str) -> None:
    assert find_amounts(text) == []


def test_find_amounts_compound_and_slang() -> None:
    text = "mất 1 tỷ 250 triệu, trước đó 3 củ và 50 lít, thêm 1tr5"
    assert [v for v, _ in find_amounts(text)] == [1_250_000_000, 3_000_000, 5_000_000, 1_500_000]


@pytest.mark.parametrize(
    ("text", "vnd", "raw"),
    [
        pytest.param("nạp 4tr8, rồi 200k", 4_800_000, "4tr8", id="comma"),
        pytest.param("mất 2 triệu 5. Số tài khoản", 2_500_000, "2 triệu 5", id="full-stop"),
        pytest.param("nạp 1 tỷ 2, rồi 1.8 tỷ", 1_200_000_000, "1 tỷ 2", id="billions"),
        pytest.param("đã chuyển 12 triệu 750.", 12_750_000, "12 triệu 750", id="three-digits"),
    ],
)
def test_find_amounts_compound_before_punctuation(text: str, vnd: int, raw: str) -> None:
    assert find_amounts(text)[0] == (vnd, raw)


def test_find_amounts_tail_is_not_a_grouped_number() -> None:
    assert [v for v, _ in find_amounts("mất 2 triệu 5.000.000 đồng")] == [2_000_000, 5_000_000]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "Phí hồ sơ mười triệu. Liên hệ", [(10_000_000, "mười triệu")], id="muoi-trieu"
        ),
        pytest.param(
            "Tôi đã mất năm trăm triệu, bọn chúng",
            [(500_000_000, "năm trăm triệu")],
            id="nam-tram-trieu",
        ),
        pytest.param(
            "chuyển gấp cho mẹ hai mươi triệu vào BIDV",
            [(20_000_000, "hai mươi triệu")],
            id="hai-muoi-trieu",
        ),
        pytest.param(
            "nạp một tỷ hai trăm triệu rồi 5tr",
            [(1_200_000_000, "một tỷ hai trăm triệu"), (5_000_000, "5tr")],
            id="compound-words",
        ),
        pytest.param("gửi 2 triệu ba nhé", [(2_000_000, "2 triệu")], id="ba-is-father"),
        pytest.param("năm 2024 ba mẹ tôi", [], id="year-and-parents"),
    ],
)
def test_find_amounts_reads_spelled_out_sums(text: str, expected: list[tuple[int, str]]) -> None:
    assert find_amounts(text) == expected


def test_find_amounts_skips_foreign_currency() -> None:
    text = "gửi tặng em 50.000 USD và 5 nghìn đô la, bắt đóng phí 25 triệu"
    assert find_amounts(text) == [(25_000_000, "25 triệu")]


def test_find_amounts_skips_grouped_counts_of_other_things() -> None:
    text = "Diem thuong 2.350 diem cua quy khach, phi 2.350 đ"
    assert find_amounts(text) == [(2_350, "2.350 đ")]
