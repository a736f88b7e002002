"""The bundled bank list and finding banks in what residents write."""

from __future__ import annotations

import pytest

from handlers.banks import all_banks, bank_by_bin, bank_by_code, find_banks, match_bank


def test_list_has_every_bank_with_unique_codes_and_bins() -> None:
    banks = all_banks()
    codes = [b.code for b in banks]
    bins = [b.bin for b in banks if b.bin]
    assert len(codes) == len(set(codes)) >= 51
    assert len(bins) == len(set(bins))
    assert {b.kind for b in banks} == {"bank", "ewallet"}
    assert bank_by_code("MOMO") is not None and bank_by_code("MOMO").bin is None  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("bin_", "code"),
    [
        ("970436", "VCB"),
        ("970415", "ICB"),
        ("970422", "MB"),
        ("546034", "CAKE"),
        ("963388", "TIMO"),
        ("971005", "VIETTELMONEY"),
        ("999888", "VBSP"),
    ],
)
def test_bank_by_bin(bin_: str, code: str) -> None:
    bank = bank_by_bin(bin_)
    assert bank is not None and bank.code == code


def test_unknown_code_and_bin_are_none() -> None:
    assert bank_by_code("XYZ") is None
    assert bank_by_bin("123456") is None
    assert bank_by_code("vcb") is not None


@pytest.mark.parametrize(
    ("answer", "code"),
    [
        ("vietcom", "VCB"),
        ("Vietcombank", "VCB"),
        ("NH Ngoại thương", "VCB"),
        ("vcb", "VCB"),
        ("Vietin", "ICB"),
        ("Viettin", "ICB"),
        ("Viettinbank", "ICB"),
        ("công thương", "ICB"),
        ("bidv", "BIDV"),
        ("agri", "VBA"),
        ("Agribank", "VBA"),
        ("Techcom", "TCB"),
        ("tcb", "TCB"),
        ("mbbank", "MB"),
        ("mb bank", "MB"),
        ("MB", "MB"),
        ("Ngân hàng Quân Đội", "MB"),
        ("quân đội", "MB"),
        ("quan doi", "MB"),
        ("sacom", "STB"),
        ("vp bank", "VPB"),
        ("tp bank", "TPB"),
        ("momo", "MOMO"),
        ("ví momo", "MOMO"),
        ("Ví MoMo", "MOMO"),
        ("zalo pay", "ZALOPAY"),
        ("acb", "ACB"),
        ("Á Châu", "ACB"),
        ("shinhan", "SHBVN"),
        ("SHB", "SHB"),
        ("viettel money", "VIETTELMONEY"),
        ("ngân hàng Tiên Phong", "TPB"),
        ("vietconbank", "VCB"),
        ("  VCB.  ", "VCB"),
        ("là vietcombank", "VCB"),
        ("970436", "VCB"),
        ("Ngan hang TMCP Ngoai thuong Viet Nam", "VCB"),
    ],
)
def test_match_bank_short_answers(answer: str, code: str) -> None:
    bank = match_bank(answer)
    assert bank is not None and bank.code == code


@pytest.mark.parametrize("answer", ["", "không nhớ", "xyz", "ngân hàng", "vcb và acb", "😡"])
def test_match_bank_none_when_unclear(answer: str) -> None:
    assert match_bank(answer) is None


def _codes(text: str) -> list[str]:
    return [b.code for b, _, _ in find_banks(text)]


@pytest.mark.parametrize(
    ("text", "codes"),
    [
        ("chuyển qua MB nhé", ["MB"]),
        ("mạng 100mbps", []),
        ("acbd và vibe, shbx, ncbs, scbz, msba, ocbb, tpbx", []),
        (
            "ACB, VIB, SHB, NCB, SCB, MSB, OCB, TPB",
            ["ACB", "VIB", "SHB", "NCB", "SCB", "MSB", "OCB", "TPB"],
        ),
        ("cán bộ quân đội gọi", []),
        ("Ngân hàng Quân đội", ["MB"]),
        ("Trường Đại học Ngoại thương", []),
        ("NH ngoại thương", ["VCB"]),
        ("vietcombank và techcombank", ["VCB", "TCB"]),
        ("DOB 01/01/1990", []),
        ("VCB-XACTHUC", ["VCB"]),
    ],
)
def test_find_banks_whole_words_only(text: str, codes: list[str]) -> None:
    assert _codes(text) == codes


def test_find_banks_offsets_point_into_the_original_text() -> None:
    text = "Tôi chuyển vào Ngân hàng Quân Đội và ví MoMo"
    found = find_banks(text)
    assert [(b.code, text[s:e]) for b, s, e in found] == [
        ("MB", "Ngân hàng Quân Đội"),
        ("MOMO", "ví MoMo"),
    ]


def test_find_banks_longest_alias_wins_without_overlap() -> None:
    text = "vcb neo và vietcom bank"
    assert [(b.code, text[s:e]) for b, s, e in find_banks(text)] == [
        ("CBB", "vcb neo"),
        ("VCB", "vietcom bank"),
    ]


def test_find_banks_ignores_case_and_diacritics() -> None:
    assert _codes("NGAN HANG NGOAI THUONG") == ["VCB"]
    assert _codes("ngân hàng ngoại thương") == ["VCB"]
