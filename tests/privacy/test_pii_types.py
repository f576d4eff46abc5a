"""Exact redactions per PII type and per decoy class, SQL path and Python twin alike.

Hand-written from Australian formats (not from the independent evaluation set), one
case per shape: names in every cue context, identifiers, and decoys that must survive.
"""

from __future__ import annotations

import duckdb
import pytest

from pipeline.privacy import names
from pipeline.privacy import patterns as pii

CASES: list[tuple[str, str]] = [
    # names
    ("Hi Mai, my parcel is late", "Hi [NAME], my parcel is late"),
    ("Thanks, Sarah O'Neil", "Thanks, [NAME]"),
    ("Cheers\nTom", "Cheers\n[NAME]"),
    ("my name is Priya Patel and I need help", "my name is [NAME] and I need help"),
    ("this is Nguyen Van Minh from accounts", "this is [NAME] from accounts"),
    ("I'm Grace, the account holder", "I'm [NAME], the account holder"),
    ("I was speaking with Will yesterday", "I was speaking with [NAME] yesterday"),
    ("hey its jack here", "hey its [NAME] here"),
    ("Kind regards,\nAroha Ngata", "Kind regards,\n[NAME]"),
    ("Thanks Liam Smith-Jones", "Thanks [NAME]"),
    ("Hi Siobhan D'Souza", "Hi [NAME]"),
    ("Hi Team, the app keeps crashing", "Hi Team, the app keeps crashing"),
    ("I will mark it as resolved", "I will mark it as resolved"),
    ("this is Telstra support", "this is Telstra support"),
    ("I shopped at Bunnings in Alice Springs", "I shopped at Bunnings in Alice Springs"),
    ("the store on Bourke St in Melbourne", "the store on Bourke St in Melbourne"),
    ("flew Qantas to Wagga Wagga", "flew Qantas to Wagga Wagga"),
    # e-mail
    ("mail jo.bloggs+tag@example.com.au now", "mail [EMAIL] now"),
    ("jane dot doe at gmail dot com", "[EMAIL]"),
    ("jane[at]example[dot]com.au", "[EMAIL]"),
    # phones
    ("call 0412 345 678", "call [PHONE]"),
    ("call +61 412 345 678", "call [PHONE]"),
    ("ring (03) 9123 4567 today", "ring [PHONE] today"),
    ("ring 1300 123 456", "ring [PHONE]"),
    ("uk +44 20 7946 0958", "uk [PHONE]"),
    ("us +1 (415) 555-0132", "us [PHONE]"),
    # cards and friends
    ("card 4111 1111 1111 1111 exp 09/27 cvv 123", "card [CARD] exp [CARD_EXPIRY] cvv [CVV]"),
    ("amex 3782 822463 10005", "amex [CARD]"),
    ("security code is 482", "security code is [CVV]"),
    ("expiry 11/2028", "expiry [CARD_EXPIRY]"),
    # AU identifiers
    ("my TFN is 123 456 782", "my TFN is [TFN]"),
    ("tax file number 12345678", "tax file number [TFN]"),
    ("Medicare 2123 45670 1", "Medicare [MEDICARE]"),
    ("ABN 51 824 753 556", "ABN [ABN]"),
    ("ACN 004 085 616", "ACN [ACN]"),
    ("BSB 062-000 account 12345678", "BSB [BANK_ACCOUNT] account [BANK_ACCOUNT]"),
    ("driver licence 12345678", "driver licence [LICENCE]"),
    ("passport number PA1234567", "passport number [PASSPORT]"),
    ("DOB 03/04/1985", "DOB [DOB]"),
    ("born on 3 April 1985", "born on [DOB]"),
    ("I live at 12 Smith Street", "I live at [ADDRESS]"),
    ("server 10.0.0.1 and 2001:db8::1", "server [IP] and [IP]"),
    ("reset https://x.example.com/reset?token=abc123def456ghi", "reset [URL]"),
    ("follow @jane_doe99 on x", "follow [HANDLE] on x"),
    # decoys
    ("order #10234567 shipped", "order #10234567 shipped"),
    ("order 123 456 782 shipped", "order 123 456 782 shipped"),
    ("it cost $1,299.00 at 10:30", "it cost $1,299.00 at 10:30"),
    ("app version 7.16.11.243 crashed", "app version 7.16.11.243 crashed"),
    ("build 1.2.3.4 fails", "build 1.2.3.4 fails"),
    ("delivered on 03/04/2024", "delivered on 03/04/2024"),
    ("50% off 3 items", "50% off 3 items"),
    ("see https://help.example.com/articles/billing", "see https://help.example.com/articles/billing"),
    ("error E-4021 again", "error E-4021 again"),
]


def _redact_in_one_query(texts: set[str]) -> dict[str, str]:
    """The SQL expression's output for every text, from one query over a table: each new
    connection's first query compiles every regex of the expression (seconds), so one query per
    case would pay that compile once per case."""
    con = duckdb.connect()
    pii.install_macros(con)
    con.execute("create temp table cases (m varchar)")
    con.executemany("insert into cases values (?)", [(t,) for t in sorted(texts)])
    out = dict(con.execute(f"select m, {pii.redact_sql('m')} from cases").fetchall())
    con.close()
    assert len(out) == len(texts)
    return out


@pytest.fixture(scope="module")
def sql_out() -> dict[str, str]:
    return _redact_in_one_query({text for text, _ in CASES})


@pytest.mark.parametrize(("text", "expected"), CASES, ids=[c[0][:40] for c in CASES])
def test_sql_redaction_is_exact(text: str, expected: str, sql_out: dict[str, str]) -> None:
    assert sql_out[text] == expected


@pytest.mark.parametrize(("text", "expected"), CASES, ids=[c[0][:40] for c in CASES])
def test_python_twin_is_exact(text: str, expected: str) -> None:
    assert pii.redact_python(text) == expected


def test_check_digit_macros_agree_with_stdnum() -> None:
    """The SQL ABN/ACN/Medicare macros against python-stdnum and the Python check."""
    from stdnum.au import abn, acn

    con = duckdb.connect()
    pii.install_macros(con)
    numbers = [f"{n:011d}" for n in range(51824753500, 51824753700)]
    got = dict(con.execute("select d, pii_abn_ok(d) from unnest(?::varchar[]) t(d)", [numbers]).fetchall())
    assert got == {n: abn.is_valid(n) for n in numbers} and any(got.values())
    nines = [f"{n:09d}" for n in range(4085500, 4085700)]
    got = dict(con.execute("select d, pii_acn_ok(d) from unnest(?::varchar[]) t(d)", [nines]).fetchall())
    assert got == {n: acn.is_valid(n) for n in nines} and any(got.values())
    tens = [f"{n:010d}" for n in range(2123456600, 2123456800)]
    got = dict(con.execute("select d, pii_medicare_ok(d) from unnest(?::varchar[]) t(d)", [tens]).fetchall())
    assert got == {n: pii.medicare_ok(n) for n in tens} and any(got.values())


MORE_CASES: list[tuple[str, str]] = [
    ("BSB 062-000, 12345678", "BSB [BANK_ACCOUNT], [BANK_ACCOUNT]"),
    ("062-000 12345678", "[BANK_ACCOUNT]"),
    ("PO Box 123, Carlton VIC 3053", "[ADDRESS]"),
    ("card 4111  1111  1111  1111", "card [CARD]"),
    ("call me on 9123 4567", "call me on [PHONE]"),
    ("reference number 5514 7747 8926 6300", "reference number 5514 7747 8926 6300"),
    ("call 13 22 11", "call [PHONE]"),
    ("Sarah here, need help", "[NAME] here, need help"),
    ("Hi Mai and Tom", "Hi [NAME] and [NAME]"),
    ("my wife Priya called", "my wife [NAME] called"),
    ("birthday is the 3rd of April 85", "birthday is the [DOB]"),
]


@pytest.mark.parametrize(("text", "expected"), MORE_CASES, ids=[c[0][:40] for c in MORE_CASES])
def test_more_shapes_sql_and_python(text: str, expected: str, shapes_sql: dict[str, str]) -> None:
    assert shapes_sql[text] == expected
    assert pii.redact_python(text) == expected


#: Shapes added for issue 13, written from the formats in bench/pii_eval/SPEC.md's table (not
#: from the evaluation's messages): one case per shape, decoys beside them.
ISSUE_13_CASES: list[tuple[str, str]] = [
    # cards: 19-digit 4-4-4-4-3 and 4-4-4-4-2 groupings, dotted 4-digit groups
    ("card 6250 9410 0652 8599 008 pls", "card [CARD] pls"),
    ("card 6250 9410 0652 8599 00 pls", "card [CARD] pls"),
    ("card 4111 1111 1111 1111 005 pls", "card [CARD] 005 pls"),
    ("card 4111.1111.1111.1111 thanks", "card [CARD] thanks"),
    ("card 4111 1111 1111 1111 2 items", "card [CARD] 2 items"),
    ("tfn 123 456 782 10.0.0.1", "tfn [TFN] [IP]"),
    # ABN written with dots (IPv4-shaped, octets over 255)
    ("our ABN is 51.824.753.556.", "our ABN is [ABN]."),
    ("business 51.824.753.556 registered", "business [ABN] registered"),
    ("app version 7.16.11.243 crashed", "app version 7.16.11.243 crashed"),
    # bank details: 'Acc:' abbreviation, unlabelled pair after 'bank details'
    ("refund to BSB: 062 000 Acc: 1234567", "refund to BSB: [BANK_ACCOUNT] Acc: [BANK_ACCOUNT]"),
    ("bank details are 062000 12345678 thanks", "bank details are [BANK_ACCOUNT] thanks"),
    ("acc 123456789", "acc [BANK_ACCOUNT]"),
    # passports with a letter inside the digits
    ("passport no. C12X34567 thanks", "passport no. [PASSPORT] thanks"),
    # a birth date a clause away from its keyword, and a delivery date that stays
    ("need my DOB on file? it is 14/07/1985", "need my DOB on file? it is [DOB]"),
    ("delivered on 12/03/2026, DOB later", "delivered on 12/03/2026, DOB later"),
    # addresses: PO box with its suburb, lower case with a state, line breaks, Cl
    ("send to PO Box 42, Carlton VIC 3053 please", "send to [ADDRESS] please"),
    ("12 smith street\nrichmond vic 3121", "[ADDRESS]"),
    ("Unit 4/12 Banksia Cl, Hobart Tasmania 7000", "Unit [ADDRESS]"),
    ("it took 3 hours on the road", "it took 3 hours on the road"),
    ("the Bourke St store", "the Bourke St store"),
    # phones: 0011 international, North American
    ("ring 0011 44 20 7946 0958 tonight", "ring [PHONE] tonight"),
    ("office (415) 555-0132 ok", "office [PHONE] ok"),
    # URLs without a scheme carrying a secret; a public one stays
    ("go to my.shop.com.au/s/Ab3dE5gH7jK9mN1pQ?auth=Zx8Cv7Bn6Mq2", "go to [URL]"),
    ("see help.shop.com.au/faq/refunds", "see help.shop.com.au/faq/refunds"),
    # licences grouped 3-3-3; keywords with one typing slip
    ("licence: 123 456 789, thanks", "licence: [LICENCE], thanks"),
    ("my pasport number is PA1234567", "my pasport number is [PASSPORT]"),
    ("Drivers liceence number S12345 ok", "Drivers liceence number [LICENCE] ok"),
    ("best contact is 9123 4567 or email", "best contact is [PHONE] or email"),
    # names: sign-off alone on its line, after a sentence, 'X from the', lower-case surnames,
    # 'not' lists, hyphenated given names
    ("order is late.\nCheers\nTom", "order is late.\nCheers\n[NAME]"),
    ("where is it?\nRegards,\nAroha Ngata 🙏", "where is it?\nRegards,\n[NAME] 🙏"),
    ("Thanks heaps, Warrick", "Thanks heaps, [NAME]"),
    ("Thanks for waiting, Liam here from billing", "Thanks for waiting, [NAME] here from billing"),
    ("Tane from the Bondi store called me", "[NAME] from the Bondi store called me"),
    ("this is maria papadopoulos", "this is [NAME]"),
    ("my name is Priya Sharma, not Anjali Patel", "my name is [NAME], not [NAME]"),
    ("Hi Georgia-Rose, thanks", "Hi [NAME], thanks"),
    # not names: sentence starts after a greeting, sign-off words, brands, towns
    ("Hello, Can I change my order?", "Hello, Can I change my order?"),
    ("Hi,\nOrder 123 is late", "Hi,\nOrder 123 is late"),
    ("thanks.\nKind regards,\nCustomer Care", "thanks.\nKind regards,\nCustomer Care"),
    ("all good now.\nCheers", "all good now.\nCheers"),
    ("you said its Westpacs problem", "you said its Westpacs problem"),
    ("flying to Mount Isa tomorrow", "flying to Mount Isa tomorrow"),
    ("bought it at The Good Guys", "bought it at The Good Guys"),
    ("app updated to 19.12.15.106 today", "app updated to 19.12.15.106 today"),
    # gazetteer lookups (names.run_passes): a surname that is a function or calendar word after a
    # found name, lower-case runs after a cue, a given name that is also a place or brand
    ("spoke with Minh Do, she was great", "spoke with [NAME], she was great"),
    ("hi, swati rahman here, my parcel is late", "hi, [NAME] here, my parcel is late"),
    ("Hi Alinta, the modem is fine", "Hi [NAME], the modem is fine"),
    ("I was helped by Kevin dang.", "I was helped by [NAME]."),
    ("My name is Sam Sun, order 4411", "My name is [NAME], order 4411"),
    ("signed by Tom Walsh at the door", "signed by [NAME] at the door"),
    ("regards,\nKevin Do", "regards,\n[NAME]"),
    # ... and the same words where they are no names
    ("Thanks, see you Sunday.", "Thanks, see you Sunday."),
    ("spoke with the team again", "spoke with the team again"),
    ("Hello, April is a busy month", "Hello, April is a busy month"),
    ("asked for a manager yesterday", "asked for a manager yesterday"),
    ("spoke with the manager, she said no", "spoke with the manager, she said no"),
    ("we do do it", "we do do it"),
    ("hi café", "hi café"),
    # words no dictionary knows, next to a found name or alone after a cue before a clause end; a
    # capitalised name right before a found one; the words that open a contact line
    ("this is Eleni christodoulou calling back", "this is [NAME] calling back"),
    ("Cheers,\nnikos hatzidakis", "Cheers,\n[NAME]"),
    ("F13 on startup.\nThanks, navdeep dang", "F13 on startup.\nThanks, [NAME]"),
    ("its wirihana, my order is late", "its [NAME], my order is late"),
    ("thx huirangi 🙏", "thx [NAME] 🙏"),
    ("hey, im nguyen thi", "hey, im [NAME]"),
    ("Thanks, aoife el-masri", "Thanks, [NAME]"),
    ("warm regards, Jun Nair", "warm regards, [NAME]"),
    ("Order shipped. marco tuilagi, 12 Smith Street, Richmond VIC 3121", "Order shipped. [NAME], [ADDRESS]"),
    ("Tahlia K., 4 Banksia Cl, Hobart Tasmania 7000", "[NAME], [ADDRESS]"),
    # ... and the words beside them that stay: typing slips, chat words, titles, cue words, places
    ("Hi thre, the app is slow", "Hi thre, the app is slow"),
    ("this is ridiculuos, third time", "this is ridiculuos, third time"),
    ("Thanks heeaps 🙂", "Thanks heeaps 🙂"),
    ("Thanks Sarah pls call", "Thanks [NAME] pls call"),
    ("Hi Sarah follow-up please", "Hi [NAME] follow-up please"),
    ("hi guys, its stuck", "hi guys, its stuck"),
    ("Mr Smith called", "Mr [NAME] called"),
    ("Yo Aarav from the depot", "Yo [NAME] from the depot"),
    ("Home, 12 Smith Street, Richmond VIC 3121", "Home, [ADDRESS]"),
    ("deliver to work, 12 Smith Street, Richmond VIC 3121", "deliver to work, [ADDRESS]"),
]


@pytest.mark.parametrize(("text", "expected"), ISSUE_13_CASES, ids=[c[0][:40] for c in ISSUE_13_CASES])
def test_issue_13_shapes_sql_and_python(text: str, expected: str, shapes_sql: dict[str, str]) -> None:
    assert shapes_sql[text] == expected
    assert pii.redact_python(text) == expected


#: What the redaction should give but does not yet: each must fail (strict), so the day a change
#: fixes one, the test says so and it moves into ISSUE_13_CASES.
KNOWN_LIMITS: list[tuple[str, str, str]] = [
    (
        "DOB on file. Delivered 12/03/2026\nok",
        "DOB on file. Delivered 12/03/2026\nok",
        "the wider gap takes a later date on the keyword's line as the birth date",
    ),
    (
        "Hello, Tane from the Bondi store",
        "Hello, [NAME] from the Bondi store",
        'after "Hello, " a name running on into lower-case words reads as a sentence start',
    ),
    (
        "Thanks heaps, Jun",
        "Thanks heaps, [NAME]",
        "a given name that is also a calendar word is taken right after a greeting only, not after a filler",
    ),
    (
        "regards,\nEleni papadakis-wright",
        "regards,\n[NAME]",
        "a capitalised word running on into a lower-case one after a sign-off reads as a sentence start",
    ),
    (
        "regards, Hemi Tūhoe",
        "regards, [NAME]",
        "a surname with a letter outside ASCII is not a name token",
    ),
]


@pytest.fixture(scope="module")
def shapes_sql() -> dict[str, str]:
    """Every case below (more shapes, issue 13, known limits) through the SQL expression."""
    return _redact_in_one_query({t for t, _ in MORE_CASES + ISSUE_13_CASES} | {t for t, _, _ in KNOWN_LIMITS})


@pytest.mark.parametrize(
    ("text", "expected"),
    [pytest.param(t, e, marks=pytest.mark.xfail(strict=True, reason=why), id=t[:40]) for t, e, why in KNOWN_LIMITS],
)
def test_known_limits_sql_and_python(text: str, expected: str, shapes_sql: dict[str, str]) -> None:
    assert shapes_sql[text] == expected
    assert pii.redact_python(text) == expected


def test_marks_dropped_before_function_words_could_never_be_taken() -> None:
    """The pass that drops a run mark before a function word changes no output only while the
    lookup holds none of those words, under any of the keys it looks words up by."""
    lookup = names.run_lookup()
    words = names._unmarked_words()
    assert {"and", "And", "mate", "team", "Mr", "Hi"} <= set(words)
    assert [w for w in words if names._run_key(w) in lookup] == []
    assert [w for w in words if names.unknown_word(names._run_key(w))] == []


def test_unknown_words_are_words_no_dictionary_knows() -> None:
    assert names.unknown_word("papageorgiou") and names.unknown_word("el-masri")
    known = ["delivered", "boxes", "stopped", "apparently", "modem", "thx", "dont", "follow-up", "wi-fi"]
    assert [w for w in known if names.unknown_word(w)] == []
    assert names.looks_misspelt("ridiculuos") and names.looks_misspelt("heeaps")
    assert not names.looks_misspelt("wirihana")
