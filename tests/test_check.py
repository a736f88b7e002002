"""The instant check, end to end: /kiemtra and values sent on their own, over the fake Bot API."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.conftest import Harness, running_bot
from tests.test_officer_flow import (
    ADMIN,
    GROUP_ID,
    OFFICER,
    card_calls,
    claim,
    file_report,
    joined,
    report_row,
)
from tests.test_report_flow import press
from tests.updates import Resident

PHONE = "0987111222"
CHECKER = Resident(3900, "Hà")


@pytest.fixture
async def bot(tmp_path: Path, db_url: str) -> AsyncIterator[Harness]:
    async with running_bot(
        tmp_path, db_url, officer_chat_id=GROUP_ID, admin_ids=[ADMIN.user_id, OFFICER.user_id]
    ) as h:
        yield h


async def test_a_number_counts_as_reported_only_from_two_distinct_residents(bot: Harness) -> None:
    h = bot
    first = Resident(3001, "Lan")
    await file_report(h, first, phone=PHONE)
    await file_report(h, first, phone=PHONE, again=True)  # the same resident twice: still one
    calls = await h.send(CHECKER.command("kiemtra", PHONE))
    said = joined(calls)
    assert "0987 111 222" in said and "Chưa có ai báo cáo" in said
    assert "người báo" not in said  # one resident alone cannot mark a number
    await file_report(h, Resident(3002, "Minh"), phone=PHONE)
    calls = await h.send(CHECKER.command("kiemtra", PHONE))
    said = joined(calls)
    assert "Đã có 2 người báo" in said
    buttons = [data for call in calls for _, data in Harness.buttons(call)]
    assert "menu:report" in buttons


async def test_a_report_verified_by_an_officer_counts_alone(bot: Harness) -> None:
    h = bot
    code = await file_report(h, Resident(3010, "Lan"), phone=PHONE)
    report = await report_row(h, code)
    await claim(h, OFFICER, code)
    await h.send(OFFICER.callback(f"o:st:{report.id}:verified"))
    calls = await h.send(CHECKER.command("check", "+84 987 111 222"))
    assert "Công an đã xác nhận" in joined(calls)


async def test_rejected_and_spam_reports_do_not_count(bot: Harness) -> None:
    h = bot
    for n in range(2):
        code = await file_report(h, Resident(3020 + n, "Lan"), phone=PHONE)
        card = card_calls(h, code)[-1]
        report = await report_row(h, code)
        await h.send(OFFICER.callback(f"o:spam:{report.id}"))
        assert (await report_row(h, code)).status == "spam", card
    calls = await h.send(CHECKER.command("kiemtra", PHONE))
    assert "Chưa có ai báo cáo" in joined(calls)


async def test_a_check_never_shows_who_reported_or_what_they_wrote(bot: Harness) -> None:
    h = bot
    reporters = [Resident(3030, "Phượng", username="phuong_x"), Resident(3031, "Quang")]
    for person in reporters:
        await file_report(h, person, phone=PHONE, anonymous=False)
    calls = await h.send(CHECKER.command("kiemtra", PHONE))
    said = repr([c.params for c in calls])
    assert "Đã có 2 người báo" in joined(calls)
    for secret in ("Phượng", "phuong_x", "Quang", "3030", "3031", "0903 123 456", "sàn đầu tư"):
        assert secret not in said, secret


async def test_a_value_sent_on_its_own_is_checked_even_before_consent(bot: Harness) -> None:
    h = bot
    for n in range(2):
        await file_report(h, Resident(3040 + n, "Lan"), phone=PHONE)
    stranger = Resident(3049, "Tâm")
    calls = await h.send(stranger.text(PHONE))
    assert "Đã có 2 người báo" in joined(calls)
    calls = await press(h, stranger, calls, "Báo cáo lừa đảo")  # then the privacy notice
    assert "Bạn có đồng ý không?" in joined(calls)


async def test_an_account_is_found_with_or_without_its_bank_and_behind_a_phone(
    bot: Harness,
) -> None:
    h = bot
    for n in range(2):
        await file_report(h, Resident(3050 + n, "Lan"), phone=PHONE)  # VCB 0123456789
    for value in ("0123456789", "Vietcombank 0123456789", "VCB 0123 456 789"):
        calls = await h.send(CHECKER.command("kiemtra", value))
        said = joined(calls)
        assert "0123456789" in said and "Đã có 2 người báo" in said, (value, said)
    calls = await h.send(CHECKER.command("kiemtra", "0123456780"))
    assert "Chưa có ai báo cáo" in joined(calls)


async def test_links_are_judged_by_their_look_and_the_official_list(bot: Harness) -> None:
    h = bot
    calls = await h.send(CHECKER.command("kiemtra", "https://vietcombank-xacthuc.com/dang-nhap"))
    said = joined(calls)
    assert "vietcombank-xacthuc[.]com" in said and "🚩" in said  # defanged, and dangerous
    calls = await h.send(CHECKER.command("kiemtra", "vietcombank.com.vn"))
    said = joined(calls)
    assert "✅" in said and "🚩" not in said


async def test_bad_input_gets_a_kind_explanation(bot: Harness) -> None:
    h = bot
    calls = await h.send(CHECKER.command("kiemtra"))
    assert "/kiemtra 0912345678" in joined(calls)
    calls = await h.send(CHECKER.command("kiemtra", "xin chào"))
    assert "Mình không tìm thấy" in joined(calls)


async def test_the_cli_check_prints_the_same_verdict_as_json(tmp_path: Path, db_url: str) -> None:
    from tests.test_cli import tinbao

    async with running_bot(tmp_path, db_url) as h:
        for n in range(2):
            await file_report(h, Resident(3060 + n, "Lan"), phone=PHONE)
    result = tinbao("check", PHONE, cwd=tmp_path, db_url=db_url)
    assert result.returncode == 0, result.stderr
    verdicts = json.loads(result.stdout)["verdicts"]
    assert verdicts[0]["kind"] == "phone" and verdicts[0]["value"] == "+84987111222"
    assert verdicts[0]["reported"] is True and verdicts[0]["reporters"] == 2
    nothing = tinbao("check", "xin chào", cwd=tmp_path, db_url=db_url)
    assert nothing.returncode == 1 and "no phone number" in nothing.stderr


async def test_officers_block_and_trust_websites_for_the_check(bot: Harness) -> None:
    h = bot
    calls = await h.send(OFFICER.command("tenmien", "chan https://qua-tang-tet.com/nhan"))
    assert "qua-tang-tet.com" in joined(calls)
    calls = await h.send(CHECKER.command("kiemtra", "qua-tang-tet.com"))
    assert "🚩" in joined(calls)
    # The rule covers the site's subdomains, and only that site.
    calls = await h.send(CHECKER.command("kiemtra", "https://nhan.qua-tang-tet.com/qua"))
    assert "🚩" in joined(calls)
    calls = await h.send(CHECKER.command("kiemtra", "https://tang-tet.com/qua"))
    assert "🚩" not in joined(calls)
    calls = await h.send(OFFICER.command("domains", "trust qua-tang-tet.com"))
    calls = await h.send(CHECKER.command("kiemtra", "qua-tang-tet.com"))
    assert "🚩" not in joined(calls) and "⚠️" not in joined(calls)
    calls = await h.send(OFFICER.command("tenmien"))
    assert "qua-tang-tet.com" in joined(calls)
    calls = await h.send(OFFICER.command("tenmien", "xoa qua-tang-tet.com"))
    calls = await h.send(OFFICER.command("tenmien"))
    assert "qua-tang-tet.com" not in joined(calls)
    # A resident cannot touch the lists.
    calls = await h.send(CHECKER.command("tenmien", "tin vietcombank-xacthuc.com"))
    assert "only for police officers" in joined(calls) or "chỉ dành cho cán bộ" in joined(calls)
    calls = await h.send(CHECKER.command("kiemtra", "vietcombank-xacthuc.com"))
    assert "🚩" in joined(calls)


async def test_reports_linked_through_others_form_a_cluster_officers_can_list(
    bot: Harness,
) -> None:
    h = bot
    a = await file_report(
        h, Resident(3070, "An"), phone="0901000001", account="Vietcombank 0123400001"
    )
    b = await file_report(
        h, Resident(3071, "Bảo"), phone="0901000002", account="Vietcombank 0123400001"
    )
    c = await file_report(
        h, Resident(3072, "Chi"), phone="0901000002", account="Vietcombank 0123400003"
    )
    card = str(card_calls(h, c)[-1].params["text"])
    assert "Trùng thông tin với 1 tin báo khác" in card  # only b directly
    assert "tổng cộng 2 tin báo: /chiso " + c in card  # a, through b
    for query in (a, "0901 000 002", "0123400003"):
        calls = await h.send(OFFICER.command("chiso", query))
        listed = joined(calls)
        assert all(code in listed for code in (a, b, c)), (query, listed)
    unrelated = await file_report(
        h, Resident(3073, "Dung"), phone="0901000009", account="Vietcombank 0123400009"
    )
    calls = await h.send(OFFICER.command("indicator", a))
    assert unrelated not in joined(calls) and "3 linked reports" in joined(calls)
    calls = await h.send(CHECKER.command("chiso", a))
    assert a not in joined(calls)  # officers only


async def test_indicators_are_exported_with_counts_as_csv_and_stix(
    tmp_path: Path, db_url: str
) -> None:
    from tests.test_cli import tinbao

    async with running_bot(tmp_path, db_url) as h:
        for n in range(2):
            await file_report(h, Resident(3080 + n, "Lan"), phone=PHONE)
        await file_report(h, Resident(3082, "Lan"), phone="0987000333", account="VCB 0123400333")
    result = tinbao("export", "--indicators", cwd=tmp_path, db_url=db_url)
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    phone = next(r for r in rows if r["value"] == "+84987111222")
    assert phone["kind"] == "phone" and phone["reports"] == "2" and phone["reporters"] == "2"
    assert phone["verified"] == "no" and phone["first_seen"] <= phone["last_seen"]
    assert not any(r["value"] == "+84987000333" for r in rows)  # one reporter: not shared
    everything = tinbao(
        "export", "--indicators", "--min-reporters", "1", cwd=tmp_path, db_url=db_url
    )
    assert "+84987000333" in everything.stdout
    stix = tinbao("export", "--indicators", "--format", "stix", cwd=tmp_path, db_url=db_url)
    assert stix.returncode == 0, stix.stderr
    bundle = json.loads(stix.stdout)
    assert bundle["type"] == "bundle"
    patterns = {o["pattern"]: o for o in bundle["objects"] if o["type"] == "indicator"}
    found = patterns["[x-tinbao-phone:value = '+84987111222']"]
    assert found["spec_version"] == "2.1" and found["x_tinbao_reporters"] == 2
    assert "[x-tinbao-bank-account:value = 'VCB:0123456789']" in patterns
    again = tinbao("export", "--indicators", "--format", "stix", cwd=tmp_path, db_url=db_url)
    assert {o["id"] for o in json.loads(again.stdout)["objects"]} == {
        o["id"] for o in bundle["objects"]
    }  # stable ids: a receiver importing twice updates rather than doubles
    for secret in ("3080", "3081", "Lan", "sàn đầu tư"):
        assert secret not in stix.stdout and secret not in result.stdout
    wrong = tinbao("export", "--format", "stix", cwd=tmp_path, db_url=db_url)
    assert wrong.returncode == 1 and "--indicators" in wrong.stderr
