"""Indicator extraction on realistic Vietnamese scam texts: what a report gets checked against."""

from __future__ import annotations

import pytest

from handlers.extract import Indicator, extract_indicators, normalize_text

_KINDS = {
    "phone": "phone",
    "acct": "bank_account",
    "url": "url",
    "domain": "domain",
    "email": "email",
    "social": "social",
}


def _pairs(expected: list[str]) -> list[tuple[str, str]]:
    out = []
    for item in expected:
        kind, _, value = item.partition("=")
        out.append((_KINDS[kind], value))
    return out


# (id, text, expected "kind=value" in order of appearance)
CASES: list[tuple[str, str, list[str]]] = [
    # --- scam SMS impersonating banks ---
    (
        "sms-vcb-locked",
        "[VCB] Tai khoan cua quy khach bi khoa, vui long truy cap vcb-xacthuc.com de mo khoa",
        ["domain=vcb-xacthuc.com"],
    ),
    (
        "sms-bidv-subdomain-trick",
        "BIDV: Quy khach vui long cap nhat sinh trac hoc tai bidv.com.vn.secure-login.xyz "
        "truoc 24h",
        ["domain=secure-login.xyz"],
    ),
    (
        "sms-vcb-online-top",
        "Vietcombank thong bao: TK cua ban se bi tam khoa. Xac thuc ngay: https://vcb-online.top/xt",
        ["url=https://vcb-online.top/xt", "domain=vcb-online.top"],
    ),
    (
        "sms-vercel-private-suffix",
        "Ngan hang Nha nuoc thong bao cap nhat thong tin tai state-bank.vercel.app",
        ["domain=state-bank.vercel.app"],
    ),
    (
        "sms-github-io",
        "Nhan qua tri an khach hang tai x.github.io ngay hom nay",
        ["domain=x.github.io"],
    ),
    (
        "sms-www-form",
        "Techcombank: de tranh bi khoa the, truy cap www.techcombank-vn.net/verify.",
        ["url=http://www.techcombank-vn.net/verify", "domain=techcombank-vn.net"],
    ),
    (
        "sms-uppercase-url",
        "CANH BAO: HTTPS://VIETINBANK-EKYC.COM/LOGIN",
        ["url=https://vietinbank-ekyc.com/LOGIN", "domain=vietinbank-ekyc.com"],
    ),
    (
        "sms-homograph-idna",
        "Truy cập https://vietcombаnk.com để nhận ưu đãi",
        ["url=https://xn--vietcombnk-6qi.com", "domain=xn--vietcombnk-6qi.com"],
    ),
    (
        "sms-mb-shortlink",
        "MBBank: Quy khach co 1 giao dich dang cho xac nhan, chi tiet: https://bit.ly/3abcXYZ",
        ["url=https://bit.ly/3abcXYZ", "domain=bit.ly"],
    ),
    (
        "sms-evn-electricity",
        "EVN thong bao: quy khach se bi cat dien toi nay do chua thanh toan. "
        "Lien he ngay 0833 123 456 de duoc ho tro.",
        ["phone=+84833123456"],
    ),
    (
        "sms-hotline-1900",
        "Vietcombank: Moi thac mac vui long goi hotline 1900 545413",
        ["phone=1900545413"],
    ),
    (
        "sms-hotline-1800-dotted",
        "Tong dai mien phi 1800.1234 ho tro 24/7",
        ["phone=18001234"],
    ),
    (
        "sms-app-apk",
        "Tai ung dung Dich vu cong tai dichvucong-gov.com va cai file DVC.apk",
        ["domain=dichvucong-gov.com"],
    ),
    (
        "sms-vn-domain",
        "Ban da trung thuong iPhone 16, nhan giai tai shopee-tritan.vn truoc 20/11",
        ["domain=shopee-tritan.vn"],
    ),
    (
        "sms-com-vn",
        "Cuc Thue: hoan thue TNCN tai hoanthue-tncn.com.vn",
        ["domain=hoanthue-tncn.com.vn"],
    ),
    (
        "sms-diacritics-domain-followed-by-comma",
        "Quý khách truy cập acb-khachhang.online, đăng nhập để xác thực",
        ["domain=acb-khachhang.online"],
    ),
    (
        "sms-bare-domain-with-path",
        "Vao vpbank-uudai.click/dangnhap de nhan 5tr",
        ["url=http://vpbank-uudai.click/dangnhap", "domain=vpbank-uudai.click"],
    ),
    (
        "chat-bare-shortener-keeps-its-path",
        "nó gửi link bit.ly/3xYzAbc bảo đăng nhập.",
        ["url=http://bit.ly/3xYzAbc", "domain=bit.ly"],
    ),
    (
        "sms-url-in-parentheses",
        "Xem thêm (https://tpbank-hotro.site/a) nhé",
        ["url=https://tpbank-hotro.site/a", "domain=tpbank-hotro.site"],
    ),
    (
        "sms-url-in-guillemets",
        "Đường dẫn «https://msb-vay.shop/form»",
        ["url=https://msb-vay.shop/form", "domain=msb-vay.shop"],
    ),
    (
        "sms-url-trailing-exclamation",
        "Nhanh tay: http://uudai-sacombank.xyz!!!",
        ["url=http://uudai-sacombank.xyz", "domain=uudai-sacombank.xyz"],
    ),
    (
        "sms-url-with-port-and-query",
        "Dang nhap tai http://103.56.12.4:8080/login?u=1",
        ["url=http://103.56.12.4:8080/login?u=1"],
    ),
    (
        "sms-punycode-domain-bare",
        "Kiem tra tai xn--vitcombank-m7a.com",
        ["domain=xn--vitcombank-m7a.com"],
    ),
    (
        "sms-unicode-bare-domain",
        "Kiểm tra tại vietcombạnk.com ngay",
        ["domain=xn--vietcombnk-lj3e.com"],
    ),
    # --- phones in every written form ---
    ("phone-spaces", "Goi cho em 0912 345 678 nhe", ["phone=+84912345678"]),
    ("phone-dots", "SĐT: 0912.345.678", ["phone=+84912345678"]),
    ("phone-dashes", "so dien thoai 0912-345-678", ["phone=+84912345678"]),
    ("phone-plus84-spaces", "Call +84 912 345 678", ["phone=+84912345678"]),
    ("phone-84-no-plus", "lien he 84912345678", ["phone=+84912345678"]),
    ("phone-paren-84", "Hotline (+84) 91 234 5678", ["phone=+84912345678"]),
    ("phone-plus84-dashes", "+84-912-345-678 la so cua ho", ["phone=+84912345678"]),
    ("phone-plain", "0912345678", ["phone=+84912345678"]),
    ("phone-0084", "goi 0084912345678", ["phone=+84912345678"]),
    ("phone-landline-hanoi", "Tru so cong an: 024 3826 1234", ["phone=+842438261234"]),
    ("phone-landline-hcm-dots", "Goi 028.3823.4567 de xac minh", ["phone=+842838234567"]),
    ("phone-hotline-1900", "tong dai 1900 1234", ["phone=19001234"]),
    ("phone-hotline-1800", "mien phi 1800 1234", ["phone=18001234"]),
    ("phone-cambodia", "So la +855 12 345 678", ["phone=+85512345678"]),
    (
        "phone-satellite-spoofed",
        "Cuoc goi tu +882 1234 5678 tu xung cong an",
        ["phone=+88212345678"],
    ),
    ("phone-spoofed-plus840", "hien thi +840123456789 tren man hinh", ["phone=+840123456789"]),
    ("phone-sri-lanka", "Cuoc goi nho tu +94 77 123 4567", ["phone=+94771234567"]),
    ("phone-new-prefix-086", "Viettel 0868123456 goi den", ["phone=+84868123456"]),
    ("phone-vinaphone-088", "so 0888 999 000", ["phone=+84888999000"]),
    ("phone-mobifone-070", "sdt 070 123 4567", ["phone=+84701234567"]),
    ("phone-two-adjacent", "0912345678 0987654321", ["phone=+84912345678", "phone=+84987654321"]),
    (
        "phone-two-with-hoac",
        "Goi 0912 345 678 hoac 0987 654 321",
        ["phone=+84912345678", "phone=+84987654321"],
    ),
    ("phone-end-of-sentence", "Số của nó là 0912345678.", ["phone=+84912345678"]),
    ("phone-in-parentheses", "anh Tuấn (0912345678) bảo chuyển", ["phone=+84912345678"]),
    ("phone-after-colon-no-space", "sdt:0912345678", ["phone=+84912345678"]),
    ("phone-tel-prefix", "Tel: +84 24 3826 1234", ["phone=+842438261234"]),
    (
        "phone-zalo-word",
        "Ket ban zalo 0912345678 de duoc huong dan",
        ["phone=+84912345678"],
    ),
    # --- bank accounts ---
    (
        "acct-transfer-note",
        "CK 5tr vao STK 0123456789 Vietcombank NGUYEN VAN A",
        ["acct=VCB:0123456789"],
    ),
    ("acct-bank-before", "Vietcombank 0123456789", ["acct=VCB:0123456789"]),
    ("acct-code-before", "VCB 0123456789 NGUYEN VAN A", ["acct=VCB:0123456789"]),
    ("acct-stk-no-bank", "stk 0123456789", ["acct=0123456789"]),
    ("acct-so-tk", "Số tk: 19036781234018", ["acct=19036781234018"]),
    (
        "acct-so-tai-khoan",
        "Số tài khoản 0071000123456 ngân hàng Vietcombank",
        ["acct=VCB:0071000123456"],
    ),
    (
        "acct-tai-khoan-techcombank",
        "tài khoản Techcombank 19036781234018",
        ["acct=TCB:19036781234018"],
    ),
    ("acct-grouped-spaces", "STK 1234 5678 9012 ACB", ["acct=ACB:123456789012"]),
    ("acct-grouped-dots", "Số tài khoản: 0123.456.789 (MB)", ["acct=MB:0123456789"]),
    ("acct-mb-lowercase", "chuyen qua mb 0333444555666", ["acct=MB:0333444555666"]),
    ("acct-momo-phone-number", "stk 0912345678 momo", ["acct=MOMO:0912345678"]),
    ("acct-momo-before", "Ví MoMo 0912345678 tên Trần Thị B", ["acct=MOMO:0912345678"]),
    ("acct-phone-after-stk", "STK: 0987654321 MB Bank", ["acct=MB:0987654321"]),
    ("acct-account-english", "account 0123456789 at VPBank", ["acct=VPB:0123456789"]),
    ("acct-account-english-no-bank", "account 0123456789", ["acct=0123456789"]),
    ("acct-acc-slang", "acc tpbank 00012345678", ["acct=TPB:00012345678"]),
    ("acct-ck-vao", "ck vào 106870123456 vietinbank", ["acct=ICB:106870123456"]),
    ("acct-chuyen-khoan-vao", "chuyển khoản vào 8888888888 sacombank", ["acct=STB:8888888888"]),
    ("acct-nhan-tien", "nhận tiền qua 0123456789 Agribank", ["acct=VBA:0123456789"]),
    (
        "acct-multiline-form",
        "Ngân hàng: Vietcombank\nSố TK: 0123456789\nChủ TK: Nguyễn Văn A",
        ["acct=VCB:0123456789"],
    ),
    (
        "acct-form-bank-after",
        "STK: 0123456789\nNgân hàng: BIDV\nChủ TK: LE THI C",
        ["acct=BIDV:0123456789"],
    ),
    (
        "acct-two-banks",
        "VCB 0123456789, ACB 9876543210",
        ["acct=VCB:0123456789", "acct=ACB:9876543210"],
    ),
    (
        "acct-and-phone-mixed",
        "Zalo/SĐT: 0912345678, STK: 0123456789 VCB",
        ["phone=+84912345678", "acct=VCB:0123456789"],
    ),
    (
        "acct-ngan-hang-quan-doi",
        "chuyển vào ngân hàng Quân Đội số 0800123456789",
        ["acct=MB:0800123456789"],
    ),
    ("acct-nh-ngoai-thuong", "tk NH Ngoại thương 0011004123456", ["acct=VCB:0011004123456"]),
    ("acct-agri-short", "agri 1500205123456", ["acct=VBA:1500205123456"]),
    ("acct-sacom-short", "sacom 060123456789", ["acct=STB:060123456789"]),
    ("acct-viettin-typo", "Viettinbank 101867123456", ["acct=ICB:101867123456"]),
    ("acct-tp-bank-spaced", "tp bank 04567891234", ["acct=TPB:04567891234"]),
    ("acct-cake", "stk cake 0398765432", ["acct=CAKE:0398765432"]),
    ("acct-timo", "Timo 9021234567890", ["acct=TIMO:9021234567890"]),
    ("acct-zalopay", "ví zalopay 0912345678", ["acct=ZALOPAY:0912345678"]),
    ("acct-six-digits", "tk ACB 123456", ["acct=ACB:123456"]),
    ("acct-nineteen-digits", "stk 1234567890123456789", ["acct=1234567890123456789"]),
    (
        "acct-then-phone",
        "STK 0123456789 Vietcombank, SĐT 0912345678",
        ["acct=VCB:0123456789", "phone=+84912345678"],
    ),
    (
        "acct-hotline-after-bank",
        "Vietcombank, hotline 1900 545413",
        ["phone=1900545413"],
    ),
    ("acct-plus84-is-phone", "stk hoac +84 912 345 678", ["phone=+84912345678"]),
    # --- police / prosecutor impersonation ---
    (
        "police-script",
        "Tôi là Thượng úy Nguyễn Văn Hùng, Công an quận Hoàn Kiếm. Chị liên quan đường dây "
        "rửa tiền, cần chuyển toàn bộ tiền vào tài khoản tạm giữ số 19037766554433 "
        "Techcombank để xác minh. Gọi lại 024 3942 1234.",
        ["acct=TCB:19037766554433", "phone=+842439421234"],
    ),
    (
        "police-summons-link",
        "Giấy triệu tập của Viện kiểm sát: https://vks-giaytrieutap.com/hs/2211 "
        "liên hệ cán bộ quân đội Lê Minh 0977 111 222",
        [
            "url=https://vks-giaytrieutap.com/hs/2211",
            "domain=vks-giaytrieutap.com",
            "phone=+84977111222",
        ],
    ),
    (
        "police-telegram",
        "Cán bộ điều tra yêu cầu cài Telegram và nhắn @DieuTraVien_C03 để làm việc",
        ["social=telegram:dieutravien_c03"],
    ),
    (
        "police-vneid-fake",
        "Hỗ trợ cập nhật VNeID mức 2 tại vneid-govn.com, hotline 0356 789 123",
        ["domain=vneid-govn.com", "phone=+84356789123"],
    ),
    (
        "police-otp-not-account",
        "Cán bộ bảo đọc mã OTP 123456 gửi về điện thoại, tôi đã đọc",
        [],
    ),
    (
        "police-otp-eight-digits",
        "Ma xac thuc la 12345678, khong chia se cho ai",
        [],
    ),
    # --- job / investment scams ---
    (
        "job-tiktok-likes",
        "Tuyển CTV làm việc online, like video TikTok nhận 50k/ngày, liên hệ zalo.me/0912345678",
        ["social=zalo:0912345678", "phone=+84912345678"],
    ),
    (
        "job-telegram-link",
        "Nhiệm vụ đơn giản, tham gia nhóm t.me/NhiemVuKiemTien để nhận thưởng",
        ["social=telegram:nhiemvukiemtien"],
    ),
    (
        "job-telegram-https",
        "Join https://t.me/CSKH_Shopee_VN ngay",
        ["url=https://t.me/CSKH_Shopee_VN", "social=telegram:cskh_shopee_vn"],
    ),
    (
        "job-telegram-invite",
        "Vào nhóm https://t.me/+AbCdEfGh123 nhé",
        ["url=https://t.me/+AbCdEfGh123", "social=telegram:+AbCdEfGh123"],
    ),
    (
        "job-deposit",
        "Nạp 2.000.000đ vào STK 0369852147 MB Bank để kích hoạt nhiệm vụ, hoàn 2.600.000đ",
        ["acct=MB:0369852147"],
    ),
    (
        "job-invest-site",
        "Đầu tư chứng khoán quốc tế lãi 30%/tháng tại app.fx-vn-invest.net, tư vấn 0901 234 567",
        ["domain=fx-vn-invest.net", "phone=+84901234567"],
    ),
    (
        "job-email-hr",
        "Gửi CV về tuyendung.shopee@gmail.com để nhận việc",
        ["email=tuyendung.shopee@gmail.com"],
    ),
    (
        "job-email-uppercase",
        "Email: HR.Lazada@Outlook.COM",
        ["email=hr.lazada@outlook.com"],
    ),
    (
        "job-tiktok-profile",
        "Theo dõi tiktok.com/@kiemtien.online để biết thêm",
        ["social=tiktok:kiemtien.online"],
    ),
    (
        "job-tiktok-https",
        "https://www.tiktok.com/@NhanViecOnline247/video/123",
        [
            "url=https://www.tiktok.com/@NhanViecOnline247/video/123",
            "social=tiktok:nhanvieconline247",
        ],
    ),
    # --- facebook / zalo links ---
    (
        "fb-profile-https",
        "Nick lừa đảo: https://www.facebook.com/nguyen.van.lua.dao",
        [
            "url=https://www.facebook.com/nguyen.van.lua.dao",
            "social=facebook:nguyen.van.lua.dao",
        ],
    ),
    (
        "fb-profile-php",
        "https://m.facebook.com/profile.php?id=100012345678901",
        [
            "url=https://m.facebook.com/profile.php?id=100012345678901",
            "social=facebook:100012345678901",
        ],
    ),
    (
        "fb-bare-profile-php",
        "trang ca nhan m.facebook.com/profile.php?id=1000123",
        ["social=facebook:1000123"],
    ),
    ("fb-short", "fb.com/abc.xyz", ["social=facebook:abc.xyz"]),
    ("fb-bare", "facebook.com/HoTroVayVon24h", ["social=facebook:hotrovayvon24h"]),
    (
        "fb-groups",
        "Nhóm https://facebook.com/groups/vayvonnhanh",
        ["url=https://facebook.com/groups/vayvonnhanh", "social=facebook:groups/vayvonnhanh"],
    ),
    (
        "fb-share-link-no-profile",
        "https://www.facebook.com/share/p/1AbC",
        ["url=https://www.facebook.com/share/p/1AbC"],
    ),
    (
        "zalo-https",
        "Zalo: https://zalo.me/0987654321",
        ["url=https://zalo.me/0987654321", "social=zalo:0987654321", "phone=+84987654321"],
    ),
    ("zalo-id", "zalo.me/1234567890123456789", ["social=zalo:1234567890123456789"]),
    ("zalo-group", "zalo.me/g/abcXYZ123", ["social=zalo:g/abcXYZ123"]),
    (
        "fb-and-phone",
        "FB: facebook.com/lan.anh.9 sdt 0934 567 890",
        ["social=facebook:lan.anh.9", "phone=+84934567890"],
    ),
    (
        "telegram-handle-tg",
        "liên hệ qua tg @ScamBoss123",
        ["social=telegram:scamboss123"],
    ),
    (
        "telegram-handle-tele",
        "@Admin_Nhiemvu bên tele nhé",
        ["social=telegram:admin_nhiemvu"],
    ),
    ("handle-without-telegram-context", "Cảm ơn @minhanh nhiều", []),
    # --- forwarded / long texts ---
    (
        "forwarded-shopee",
        "Forwarded from CSKH Shopee:\nChúc mừng bạn được chọn làm CTV. Hoa hồng 15%. "
        "Liên hệ Zalo 0708 123 456 hoặc https://zalo.me/0708123456. "
        "Nạp tiền vào STK 104871234567 VietinBank chủ TK: Phạm Thị Hoa",
        [
            "phone=+84708123456",
            "url=https://zalo.me/0708123456",
            "social=zalo:0708123456",
            "acct=ICB:104871234567",
        ],
    ),
    (
        "forwarded-loan",
        "VAY TIỀN NHANH 50 TRIỆU KHÔNG THẾ CHẤP, giải ngân 30 phút. Đăng ký: vaynhanh247.vip "
        "Phí hồ sơ 500k chuyển vào TK 0451000123456 VCB ĐỖ VĂN NAM",
        ["domain=vaynhanh247.vip", "acct=VCB:0451000123456"],
    ),
    (
        "forwarded-gift",
        "Bạn nhận được quà từ chương trình tri ân: https://quatang-tet.net?ref=abc và email "
        "hotro@quatang-tet.net",
        [
            "url=https://quatang-tet.net?ref=abc",
            "domain=quatang-tet.net",
            "email=hotro@quatang-tet.net",
        ],
    ),
    (
        "forwarded-chat",
        "Nó nhắn: 'a ơi e kẹt tiền, a ck giúp e 3tr vào 0987 6543 21 MB nhé, mai e trả'",
        ["acct=MB:0987654321"],
    ),
    (
        "chat-relative-borrow",
        "Con đang cấp cứu, mẹ chuyển gấp 20 triệu vào số tài khoản 0021000456789 "
        "Vietcombank cho bác sĩ Trần Minh Tuấn",
        ["acct=VCB:0021000456789"],
    ),
    (
        "chat-romance",
        "Em gửi quà từ Mỹ, anh đóng phí hải quan 15.000.000 VND vào STK 8001234567 ACB nha",
        ["acct=ACB:8001234567"],
    ),
    (
        "chat-customs-fee",
        "Hải quan yêu cầu nộp 7,500,000 VND vào tài khoản 0611001234567 (Vietcombank)",
        ["acct=VCB:0611001234567"],
    ),
    (
        "chat-multi-indicators",
        "Lừa tôi qua số 0912345678, fb.com/tuan.lua, web tuanlua.shop, "
        "tk 0123456789 ACB và email tuan@lua.vn",
        [
            "phone=+84912345678",
            "social=facebook:tuan.lua",
            "domain=tuanlua.shop",
            "acct=ACB:0123456789",
            "email=tuan@lua.vn",
        ],
    ),
    (
        "dedup-same-phone-twice",
        "Số 0912345678, gọi lại 0912 345 678 cũng là nó",
        ["phone=+84912345678"],
    ),
    (
        "dedup-same-domain-twice",
        "vcb-xacthuc.com và https://vcb-xacthuc.com/login",
        ["domain=vcb-xacthuc.com", "url=https://vcb-xacthuc.com/login"],
    ),
    # --- nothing in them ---
    ("empty", "", []),
    ("greeting", "Xin chào, tôi muốn báo cáo lừa đảo", []),
    ("story-no-indicators", "Hôm qua có người gọi bảo tôi trúng thưởng nhưng tôi không tin", []),
    ("emoji-only", "😡😡😡 lừa đảo!!!", []),
    ("english-text", "I was scammed yesterday, please help", []),
    ("question", "Làm sao để lấy lại tiền?", []),
    # --- tricky negatives ---
    ("neg-amount-dots", "Tôi bị mất 5.000.000 đồng", []),
    ("neg-amount-commas", "Mất 15,000,000 VND", []),
    ("neg-amount-tr", "mất 50tr rồi", []),
    ("neg-amount-glued-d", "chuyển 5000000đ", []),
    ("neg-amount-plain-so-tien", "số tiền 5000000", []),
    ("neg-big-amount-dots", "tổng thiệt hại 1.250.000.000đ", []),
    ("neg-date-slash", "ngày 20/11/2026 tôi bị lừa", []),
    ("neg-date-dots", "Hạn chót 20.11.2026", []),
    ("neg-date-iso", "Giao dịch 2026-11-20 lúc 14:30", []),
    ("neg-date-dashes", "ngày 20-11-2026", []),
    ("neg-time", "lúc 14:30 hoặc 14h30", []),
    ("neg-year", "Năm 2026 tôi bị lừa 2 lần", []),
    ("neg-otp", "OTP: 482913", []),
    ("neg-otp-ma", "mã 4829 hết hạn sau 5 phút", []),
    ("neg-otp-vietnamese", "Mã xác thực của quý khách là 739201", []),
    ("neg-version", "cập nhật phiên bản v1.2.3 hoặc 2.10.1", []),
    ("neg-file-names", "gửi anh.jpg và file.pdf, bien_ban.docx, hoso.zip", []),
    ("neg-abbrev-tphcm", "Tôi ở TP.HCM, quận 1", []),
    ("neg-abbrev-mr", "Mr.Hung bảo thế", []),
    ("neg-abbrev-vv", "các giấy tờ CCCD, hộ khẩu v.v. đều bị lấy", []),
    ("neg-abbrev-ts-bs", "TS.BS Nguyễn Văn A khám cho tôi", []),
    ("neg-sentence-no-space", "tôi chuyển tiền rồi.Sau đó họ chặn", []),
    ("neg-decimal", "lãi suất 2.5% một tháng", []),
    ("neg-short-number", "tôi có 2 con, nhà số 123", []),
    ("neg-cccd-without-context", "CCCD 001203012345 bị lộ", []),
    ("neg-long-random-digits", "mã đơn 12345678901234567890123", []),
    ("neg-percentage", "lãi 30% sau 7 ngày", []),
    ("neg-amount-k", "phí 500k", []),
    ("neg-mbps", "mạng 100mbps", []),
    ("neg-email-not-domain", "Gửi về a.b@c", []),
    ("neg-ip-bare", "máy chủ 192.168.1.1", []),
    ("neg-stk-amount", "STK nhận 5.000.000đ", []),
    ("neg-bank-without-number", "Tôi dùng Vietcombank và MoMo", []),
    ("neg-army-word", "Anh ấy là cán bộ quân đội", []),
    ("neg-phone-too-short", "gọi 09123", []),
    ("neg-hashtag-number", "#0912345678 là mã đơn", []),
    ("neg-dob", "DOB 01.01.1990", []),
    # --- robustness-ish realistic noise ---
    (
        "decomposed-diacritics",
        normalize_text("Số tài khoản 0123456789 Vietcombank").replace("ố", "ô\u0301"),
        ["acct=VCB:0123456789"],
    ),
    ("nbsp-grouping", "0912\u00a0345\u00a0678", ["phone=+84912345678"]),
    ("zero-width-space", "sdt\u200b 0912345678", ["phone=+84912345678"]),
    ("emoji-around-phone", "📞0912345678📞", ["phone=+84912345678"]),
    ("rtl-marks", "\u202e0912345678\u202c", ["phone=+84912345678"]),
    (
        "url-then-phone",
        "https://vcb-vn.cc 0912345678",
        ["url=https://vcb-vn.cc", "domain=vcb-vn.cc", "phone=+84912345678"],
    ),
    (
        "email-inside-url-not-extracted",
        "https://form.example-scam.com/?email=a@b.com",
        ["url=https://form.example-scam.com/?email=a@b.com", "domain=example-scam.com"],
    ),
    (
        "url-digits-not-account",
        "stk xem tại https://abc-bank.top/tk/0123456789",
        ["url=https://abc-bank.top/tk/0123456789", "domain=abc-bank.top"],
    ),
    (
        "www-uppercase",
        "WWW.SCAM-SITE.ORG",
        ["url=http://www.scam-site.org", "domain=scam-site.org"],
    ),
    ("platform-domain-bare-skipped", "tải zalo.me và facebook.com", []),
    ("email-gmail", "liên hệ ten@gmail.com", ["email=ten@gmail.com"]),
    (
        "email-vn",
        "gui ve cskh@vietcombank-support.com.vn",
        ["email=cskh@vietcombank-support.com.vn"],
    ),
    (
        "hotline-and-url",
        "Gọi 1900 6789 hoặc vào www.tpbank-ho-tro.com",
        [
            "phone=19006789",
            "url=http://www.tpbank-ho-tro.com",
            "domain=tpbank-ho-tro.com",
        ],
    ),
]


@pytest.mark.parametrize(
    ("text", "expected"),
    [pytest.param(text, expected, id=case_id) for case_id, text, expected in CASES],
)
def test_extracts_exactly_the_expected_indicators(text: str, expected: list[str]) -> None:
    got = [(i.kind, i.value) for i in extract_indicators(text)]
    assert got == _pairs(expected)


def test_table_is_large_and_ids_unique() -> None:
    ids = [c[0] for c in CASES]
    assert len(ids) >= 150
    assert len(set(ids)) == len(ids)


@pytest.mark.parametrize(
    ("text", "holder"),
    [
        pytest.param(
            "CK 5tr vao STK 0123456789 Vietcombank NGUYEN VAN A",
            "NGUYEN VAN A",
            id="caps-after-bank",
        ),
        pytest.param("VCB 0123456789 NGUYEN VAN A", "NGUYEN VAN A", id="caps-after-number"),
        pytest.param(
            "chủ tk: Nguyễn Văn A, stk 0123456789 VCB", "NGUYEN VAN A", id="keyword-before"
        ),
        pytest.param(
            "Ngân hàng: Vietcombank\nSố TK: 0123456789\nChủ TK: Nguyễn Văn A",
            "NGUYEN VAN A",
            id="form-lines",
        ),
        pytest.param(
            "STK 0123456789 ACB - Trần Thị Bích Ngọc", "TRAN THI BICH NGOC", id="title-case-dash"
        ),
        pytest.param("stk 0123456789 tên Đỗ Văn Nam", "DO VAN NAM", id="ten-keyword"),
        pytest.param("tk 0123456789 MB ctk: le van c", "LE VAN C", id="lowercase-after-keyword"),
        pytest.param("STK 0123456789 Vietcombank", None, id="no-name"),
        pytest.param(
            "STK 0123456789 Vui Long Chuyen Nhanh", None, id="capitalised-words-not-a-name"
        ),
        pytest.param("STK 0123456789 CK 5TR", None, id="caps-noise-not-a-name"),
    ],
)
def test_holder_name_is_upper_ascii_when_written(text: str, holder: str | None) -> None:
    accounts = [i for i in extract_indicators(text) if i.kind == "bank_account"]
    assert len(accounts) == 1
    assert accounts[0].holder == holder


def test_raw_keeps_the_text_as_written() -> None:
    [ind] = extract_indicators("Gọi ngay 0912.345.678!")
    assert ind == Indicator("phone", "+84912345678", "0912.345.678")


def test_links_are_extracted_after_the_text() -> None:
    got = extract_indicators(
        "Bấm vào đây để nhận quà, hoặc gọi 0912345678",
        links=["https://Qua-Tang.xyz/nhan?id=1", "https://zalo.me/0987654321"],
    )
    assert [(i.kind, i.value) for i in got] == [
        ("phone", "+84912345678"),
        ("url", "https://qua-tang.xyz/nhan?id=1"),
        ("domain", "qua-tang.xyz"),
        ("url", "https://zalo.me/0987654321"),
        ("social", "zalo:0987654321"),
        ("phone", "+84987654321"),
    ]


def test_links_mailto_and_tel_and_other_schemes() -> None:
    got = extract_indicators(
        "", links=["mailto:Scam@Gmail.com", "tel:+84912345678", "tg://resolve?domain=x", ""]
    )
    assert [(i.kind, i.value) for i in got] == [
        ("email", "scam@gmail.com"),
        ("phone", "+84912345678"),
    ]


def test_link_duplicate_of_text_is_reported_once() -> None:
    got = extract_indicators("https://vcb-xt.com", links=["https://vcb-xt.com"])
    assert [(i.kind, i.value) for i in got] == [
        ("url", "https://vcb-xt.com"),
        ("domain", "vcb-xt.com"),
    ]


def test_dedup_keeps_first_raw() -> None:
    got = extract_indicators("0912 345 678 rồi 0912345678")
    assert [(i.value, i.raw) for i in got] == [("+84912345678", "0912 345 678")]


def test_order_is_order_of_appearance() -> None:
    got = extract_indicators("a@b.vn 0912345678 scam.top https://x.io")
    assert [i.kind for i in got] == ["email", "phone", "domain", "url", "domain"]


def test_account_that_is_a_mobile_number_is_not_also_a_phone() -> None:
    got = extract_indicators("STK 0912345678 MoMo")
    assert [(i.kind, i.value) for i in got] == [("bank_account", "MOMO:0912345678")]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("Khoa ngay: ghtk-service[.]info", ["domain=ghtk-service.info"], id="brackets"),
        pytest.param("Truy cap ghtk-xacthuc(.)net ngay", ["domain=ghtk-xacthuc.net"], id="parens"),
        pytest.param("vao abc-vn{.}top nhe", ["domain=abc-vn.top"], id="braces"),
        pytest.param("vao abc-vn[dot]info nhe", ["domain=abc-vn.info"], id="dot-word"),
        pytest.param(
            "tại sacombank-xacthuc . app",
            ["domain=sacombank-xacthuc.app"],
            id="spaced-dot-known-tld",
        ),
        pytest.param(
            "Kich hoat sacombankhoantien . xyz", ["domain=sacombankhoantien.xyz"], id="long"
        ),
        pytest.param("Làm xong . Com lên rồi", [], id="sentence-end-capital"),
        pytest.param("làm xong . com", [], id="sentence-end-short-word"),
        pytest.param(
            "tải ở hxxps://vnpost-xacthuc.cc/m, sau đó",
            ["url=https://vnpost-xacthuc.cc/m", "domain=vnpost-xacthuc.cc"],
            id="hxxps-keeps-https",
        ),
        pytest.param(
            "Doi qua tai hxxp://mbbank-online[.]top/app.apk hoac",
            ["url=http://mbbank-online.top/app.apk", "domain=mbbank-online.top"],
            id="hxxp-and-brackets",
        ),
        pytest.param(
            "Tải app tại m[.]xacthuc-agribank[.]click/ekyc",
            ["url=http://m.xacthuc-agribank.click/ekyc", "domain=xacthuc-agribank.click"],
            id="subdomain-and-path",
        ),
        pytest.param(
            "Huy: hxxps://techcombank-huygd[.]top/cancel",
            ["url=https://techcombank-huygd.top/cancel", "domain=techcombank-huygd.top"],
            id="hxxps-and-brackets",
        ),
    ],
)
def test_defanged_links_are_read(text: str, expected: list[str]) -> None:
    got = [(i.kind, i.value) for i in extract_indicators(text)]
    assert got == _pairs(expected)


def test_defanged_raw_is_as_written() -> None:
    (ind,) = extract_indicators("vào vcb-xacthuc[.]com.")
    assert ind.raw == "vcb-xacthuc[.]com"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "Cuộc gọi đến từ (0236) 337 3630, tự giới thiệu",
            ["phone=+842363373630"],
            id="landline-4-digit-area-code",
        ),
        pytest.param(
            "Tổng đài Vietcombank chính thức là 1900 545413, đừng gọi số lạ.",
            ["phone=1900545413"],
            id="hotline-after-bank-name",
        ),
        pytest.param(
            "STK Vietcombank 1900545413",
            ["acct=VCB:1900545413"],
            id="hotline-digits-after-account-word",
        ),
        pytest.param(
            "Đơn hàng mã 581236947 giá 1.290.000đ, shipper gọi 0356 789 123",
            ["phone=+84356789123"],
            id="order-code-is-no-phone",
        ),
    ],
)
def test_landlines_hotlines_and_codes(text: str, expected: list[str]) -> None:
    got = [(i.kind, i.value) for i in extract_indicators(text)]
    assert got == _pairs(expected)


def test_support_line_after_account_word_is_a_phone() -> None:
    text = "để tránh bị đóng băng tài khoản. Hỗ trợ: 0345064113"
    assert [(i.kind, i.value) for i in extract_indicators(text)] == [("phone", "+84345064113")]
