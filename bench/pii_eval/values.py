"""Value generators: one function per slot kind, each taking a seeded RNG.

Each returns the exact text that goes into the message. PII generators make
values with valid check digits and the written forms people really type;
decoy generators make look-alikes (long digit runs, dotted versions, dates)
whose digits fail every check-digit test, so they are decoys by context *and*
by arithmetic.
"""

from __future__ import annotations

import random
import string

from bench.pii_eval import checks, vocab

MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def _digits(rng: random.Random, n: int) -> str:
    return "".join(str(rng.randint(0, 9)) for _ in range(n))


def _group(ds: str, sizes: tuple[int, ...], sep: str = " ") -> str:
    out, i = [], 0
    for size in sizes:
        out.append(ds[i : i + size])
        i += size
    if i < len(ds):
        out.append(ds[i:])
    return sep.join(p for p in out if p)


# ---------------------------------------------------------------- names


def given_name(rng: random.Random, allow_common: bool = True) -> tuple[str, bool]:
    """A given name and whether it is also a common English word."""
    if allow_common and rng.random() < 0.04:
        return rng.choice(vocab.COMMON_WORD_GIVEN), True
    origin = rng.choice(list(vocab.GIVEN_NAMES))
    return rng.choice(vocab.GIVEN_NAMES[origin]), False


def surname(rng: random.Random) -> str:
    origin = rng.choice(list(vocab.SURNAMES))
    return rng.choice(vocab.SURNAMES[origin])


def full_name(rng: random.Random) -> tuple[str, bool]:
    """Given + family name, sometimes family-first or with a middle name."""
    first, common = given_name(rng)
    last = surname(rng)
    roll = rng.random()
    if roll < 0.08:
        return f"{last} {first}", common  # family name first
    if roll < 0.16:
        middle, _ = given_name(rng, allow_common=False)
        return f"{first} {middle} {last}", common
    if roll < 0.20:
        return f"{first} {last[0]}.", common if len(last) < 2 else common
    return f"{first} {last}", common


def styled(rng: random.Random, name: str, lower_rate: float = 0.12) -> str:
    """Names as typed in chat: mostly as written, some lower case, few caps."""
    roll = rng.random()
    if roll < lower_rate:
        return name.lower()
    if roll < lower_rate + 0.02:
        return name.upper()
    return name


# ---------------------------------------------------------------- contact


def _local_part(rng: random.Random) -> str:
    first = given_name(rng, allow_common=False)[0].lower()
    last = surname(rng).lower().replace(" ", "").replace("'", "")
    pattern = rng.choice(("{f}.{l}", "{f}{l}", "{f}_{l}", "{f}{n}", "{fi}{l}", "{f}.{l}{n}", "{l}.{f}", "{f}-{l}"))
    return pattern.format(f=first, l=last, fi=first[0], n=rng.randint(1, 99))


def email(rng: random.Random) -> str:
    """Plain, plus-addressed, upper-cased or obfuscated e-mail addresses."""
    local, domain = _local_part(rng), rng.choice(vocab.EMAIL_DOMAINS)
    roll = rng.random()
    if roll < 0.12:
        local += "+" + rng.choice(("orders", "shopping", "bills", "nbn", "spam"))
    elif roll < 0.16:
        return f"{local}@{domain}".upper() if rng.random() < 0.3 else f"{local.title()}@{domain}"
    elif roll < 0.30:
        return _obfuscated_email(rng, local, domain)
    return f"{local}@{domain}"


def _obfuscated_email(rng: random.Random, local: str, domain: str) -> str:
    style = rng.randint(0, 3)
    if style == 0:
        words = local.replace(".", " dot ")
        return f"{words} at {domain.replace('.', ' dot ')}"
    if style == 1:
        return f"{local}[at]{domain.replace('.', '[dot]', 1)}"
    if style == 2:
        return f"{local} (at) {domain.replace('.', ' (dot) ')}"
    return f"{local} AT {domain.replace('.', ' DOT ')}"


def mobile(rng: random.Random) -> str:
    ds = "04" + _digits(rng, 8)
    style = rng.randint(0, 6)
    if style == 0:
        return _group(ds, (4, 3, 3))
    if style == 1:
        return ds
    if style == 2:
        return "+61 " + _group(ds[1:], (3, 3, 3))
    if style == 3:
        return "+61" + ds[1:]
    if style == 4:
        return f"({ds[:2]}) {_group(ds[2:], (4, 4))}"
    if style == 5:
        return _group(ds, (4, 3, 3), "-")
    return "0" + _group(ds[1:], (3, 3, 3), ".")


def landline(rng: random.Random) -> str:
    area = rng.choice(("02", "03", "07", "08"))
    local = str(rng.choice((9, 8, 5, 6, 4, 3))) + _digits(rng, 7)
    style = rng.randint(0, 5)
    if style == 0:
        return f"({area}) {_group(local, (4, 4))}"
    if style == 1:
        return f"{area} {_group(local, (4, 4))}"
    if style == 2:
        return _group(local, (4, 4))  # no area code
    if style == 3:
        return f"+61 {area[1]} {_group(local, (4, 4))}"
    if style == 4:
        return area + local
    return f"{area}-{_group(local, (4, 4), '-')}"


def business_number(rng: random.Random) -> str:
    kind = rng.randint(0, 2)
    if kind == 0:
        return f"13 {_digits(rng, 2)} {_digits(rng, 2)}"
    prefix = "1300" if kind == 1 else "1800"
    ds = _digits(rng, 6)
    return rng.choice((f"{prefix} {ds[:3]} {ds[3:]}", prefix + ds, f"{prefix}-{ds[:3]}-{ds[3:]}"))


def international_phone(rng: random.Random) -> str:
    forms = (
        lambda: f"+44 20 {_digits(rng, 4)} {_digits(rng, 4)}",
        lambda: f"+44 7{_digits(rng, 3)} {_digits(rng, 6)}",
        lambda: f"+1 ({rng.randint(201, 989)}) {rng.randint(200, 999)}-{_digits(rng, 4)}",
        lambda: f"+1 {rng.randint(201, 989)} {rng.randint(200, 999)} {_digits(rng, 4)}",
        lambda: f"+64 21 {_digits(rng, 3)} {_digits(rng, 4)}",
        lambda: f"+64 9 {_digits(rng, 3)} {_digits(rng, 4)}",
        lambda: f"+91 9{_digits(rng, 4)} {_digits(rng, 5)}",
        lambda: f"+86 13{_digits(rng, 1)} {_digits(rng, 4)} {_digits(rng, 4)}",
        lambda: f"+65 {rng.choice('89')}{_digits(rng, 3)} {_digits(rng, 4)}",
        lambda: f"+63 9{_digits(rng, 2)} {_digits(rng, 3)} {_digits(rng, 4)}",
        lambda: f"+852 {_digits(rng, 4)} {_digits(rng, 4)}",
        lambda: f"+33 6 {_group(_digits(rng, 8), (2, 2, 2, 2))}",
        lambda: "+4420" + _digits(rng, 8),
        lambda: f"0011 44 20 {_digits(rng, 4)} {_digits(rng, 4)}",
        lambda: f"(415) {rng.randint(200, 999)}-{_digits(rng, 4)}",
        lambda: f"021 {_digits(rng, 3)} {_digits(rng, 4)}",
    )
    return rng.choice(forms)()


def phone(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.45:
        return mobile(rng)
    if roll < 0.72:
        return landline(rng)
    if roll < 0.82:
        return business_number(rng)
    return international_phone(rng)


def social_handle(rng: random.Random) -> str:
    first = given_name(rng, allow_common=False)[0].lower()
    last = surname(rng).lower().replace(" ", "").replace("'", "").replace("-", "")
    pattern = rng.choice(
        ("{f}.{l}", "{f}_{l}", "{f}{l}{n}", "the.real.{f}", "{f}_{n}", "{l}{f}", "{f}.{l}_", "xx{f}xx", "{f}.makes.{t}")
    )
    thing = rng.choice(("cakes", "art", "stuff", "fitness", "music"))
    return "@" + pattern.format(f=first, l=last, n=rng.randint(1, 999), t=thing)


# ---------------------------------------------------------------- cards

CARD_PREFIXES = (
    ("4", 16),
    ("4", 16),
    ("4", 13),
    ("4", 19),
    ("51", 16),
    ("53", 16),
    ("55", 16),
    ("2221", 16),
    ("2720", 16),
    ("34", 15),
    ("37", 15),
    ("36", 14),
    ("38", 14),
    ("6011", 16),
    ("35", 16),
    ("62", 17),
    ("62", 18),
    ("62", 19),
)


def card(rng: random.Random) -> str:
    """A Luhn-valid card number in one of the groupings people type."""
    prefix, length = rng.choice(CARD_PREFIXES)
    ds = checks.luhn_complete(prefix + _digits(rng, length - len(prefix) - 1))
    if length == 15:
        return rng.choice((_group(ds, (4, 6, 5)), ds, _group(ds, (4, 6, 5), "-")))
    if length == 14:
        return rng.choice((_group(ds, (4, 6, 4)), ds))
    if length != 16:
        return rng.choice((_group(ds, (4, 4, 4, 4)), ds))
    style = rng.randint(0, 4)
    if style == 0:
        return _group(ds, (4, 4, 4, 4))
    if style == 1:
        return ds
    if style == 2:
        return _group(ds, (4, 4, 4, 4), "-")
    if style == 3:
        return _group(ds, (4, 4, 4, 4), "  ")
    return _group(ds, (4, 4, 4, 4), ".")


def card_expiry(rng: random.Random) -> str:
    month, year = rng.randint(1, 12), rng.randint(26, 33)
    return rng.choice(
        (
            f"{month:02d}/{year}",
            f"{month:02d}/20{year}",
            f"{month}/{year}",
            f"{month:02d}-{year}",
            f"{month:02d} / {year}",
        )
    )


def cvv(rng: random.Random) -> str:
    return _digits(rng, 4) if rng.random() < 0.2 else _digits(rng, 3)


# ---------------------------------------------------------------- gov ids


def tfn(rng: random.Random) -> str:
    ds = checks.make_tfn(rng, 8 if rng.random() < 0.15 else 9)
    if len(ds) == 8:
        return rng.choice((ds, _group(ds, (3, 3, 2))))
    return rng.choice((_group(ds, (3, 3, 3)), ds, _group(ds, (3, 3, 3), "-")))


def medicare(rng: random.Random) -> str:
    with_irn = rng.random() < 0.3
    ds = checks.make_medicare(rng, with_irn)
    if with_irn:
        return rng.choice((ds, _group(ds, (4, 5, 1, 1)), f"{_group(ds[:10], (4, 5, 1))}-{ds[10]}"))
    return rng.choice((_group(ds, (4, 5, 1)), ds, _group(ds, (4, 5, 1), "-")))


def abn(rng: random.Random) -> str:
    ds = checks.make_abn(rng)
    return rng.choice((_group(ds, (2, 3, 3, 3)), ds, _group(ds, (2, 3, 3, 3), ".")))


def acn(rng: random.Random) -> str:
    ds = checks.make_acn(rng)
    return rng.choice((_group(ds, (3, 3, 3)), ds))


BSB_BANK_PREFIXES = ("01", "03", "06", "08", "73", "48", "63", "92", "33", "21")


def bsb(rng: random.Random) -> str:
    ds = rng.choice(BSB_BANK_PREFIXES) + _digits(rng, 4)
    return rng.choice((f"{ds[:3]}-{ds[3:]}", ds, f"{ds[:3]} {ds[3:]}"))


def account_number(rng: random.Random) -> str:
    ds = str(rng.randint(1, 9)) + _digits(rng, rng.randint(5, 9))
    if len(ds) == 8 and rng.random() < 0.3:
        return _group(ds, (4, 4))
    return ds


def driver_licence(rng: random.Random) -> str:
    """Licence numbers in the shapes the states issue."""
    forms = (
        lambda: _digits(rng, 8),  # NSW, QLD
        lambda: str(rng.randint(1, 9)) + _digits(rng, 8),  # VIC 9
        lambda: str(rng.randint(1, 9)) + _digits(rng, 9),  # VIC/NT/ACT 10
        lambda: "S" + _digits(rng, 5),  # SA
        lambda: str(rng.randint(1, 9)) + _digits(rng, 6),  # WA 7
        lambda: rng.choice("ABCDGK") + _digits(rng, 5),  # TAS
        lambda: _digits(rng, 2) + rng.choice(string.ascii_uppercase) + _digits(rng, 5),
        lambda: _group(_digits(rng, 9), (3, 3, 3)),
    )
    return rng.choice(forms)()


def passport(rng: random.Random) -> str:
    forms = (
        lambda: rng.choice(("PA", "PB", "PC", "PE", "RA")) + _digits(rng, 7),  # AU
        lambda: rng.choice("NEMLR") + _digits(rng, 7),  # AU
        lambda: rng.choice(("LA", "LH", "RA")) + _digits(rng, 6),  # NZ
        lambda: str(rng.randint(1, 9)) + _digits(rng, 8),  # UK/US
        lambda: rng.choice("JKLMNPRSTUVWZ") + _digits(rng, 7),  # IN
        lambda: "E" + _digits(rng, 8),  # CN
        lambda: rng.choice(("C", "F", "G")) + _digits(rng, 2) + "X" + _digits(rng, 5),
    )
    return rng.choice(forms)()


# ---------------------------------------------------------------- dates


def date_text(rng: random.Random, year: int) -> str:
    """One date written in any of the ways Australians write dates."""
    day, month = rng.randint(1, 28), rng.randint(1, 12)
    yy = year % 100
    forms = (
        f"{day:02d}/{month:02d}/{year}",
        f"{day}/{month}/{year}",
        f"{day}/{month}/{yy:02d}",
        f"{day} {MONTHS[month - 1]} {year}",
        f"{day} {MONTHS[month - 1][:3]} {year}",
        f"{MONTHS[month - 1]} {day}, {year}",
        f"{year}-{month:02d}-{day:02d}",
        f"{day:02d}.{month:02d}.{year}",
        f"{day:02d}-{month:02d}-{year}",
        f"{day}{_ordinal(day)} of {MONTHS[month - 1]} {year}",
        f"{day}{_ordinal(day)} {MONTHS[month - 1][:3]} {yy:02d}",
    )
    return rng.choice(forms)


def _ordinal(day: int) -> str:
    if 10 <= day % 100 <= 20:
        return "th"
    return {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")


def dob(rng: random.Random) -> str:
    return date_text(rng, rng.randint(1938, 2008))


def event_date(rng: random.Random) -> str:
    """A date that is not a birth date: delivery, billing, appointment."""
    if rng.random() < 0.35:
        day = rng.randint(1, 28)
        return rng.choice(
            (
                f"{rng.choice(DAYS)} {day} {rng.choice(MONTHS)}",
                f"{rng.choice(DAYS)} the {day}{_ordinal(day)}",
                f"{day} {rng.choice(MONTHS)[:3]}",
            )
        )
    return date_text(rng, rng.randint(2024, 2027))


# ---------------------------------------------------------------- address


def address(rng: random.Random) -> str:
    suburb, state, postcode = rng.choice(vocab.SUBURBS)
    street = f"{rng.choice(vocab.STREET_NAMES)} {rng.choice(vocab.STREET_TYPES)}"
    num = str(rng.randint(1, 399))
    roll = rng.random()
    if roll < 0.12:
        line1 = f"Unit {rng.randint(1, 40)}/{num} {street}"
    elif roll < 0.24:
        line1 = f"{rng.randint(1, 40)}/{num} {street}"
    elif roll < 0.30:
        line1 = f"Lot {rng.randint(1, 900)} {street}"
    elif roll < 0.38:
        line1 = f"PO Box {rng.randint(1, 9999)}"
    elif roll < 0.44:
        line1 = f"Level {rng.randint(1, 40)}, {num} {street}"
    elif roll < 0.48:
        line1 = f"Apt {rng.randint(1, 300)}, {num} {street}"
    else:
        line1 = f"{num}{rng.choice(('', '', '', 'A', 'B'))} {street}"
    state_text = vocab.STATE_LONG[state] if rng.random() < 0.08 else state
    tail = f"{suburb} {state_text} {postcode}"
    sep = rng.choice((", ", ", ", " ", "\n", ",\n"))
    text = f"{line1}{sep}{tail}"
    return text.lower() if rng.random() < 0.06 else text


# ---------------------------------------------------------------- network


def ipv4(rng: random.Random) -> str:
    first = rng.choice((1, 14, 27, 49, 58, 101, 110, 120, 121, 122, 144, 175, 180, 203, 210, 192, 10))
    if first == 192:
        return f"192.168.{rng.randint(0, 20)}.{rng.randint(2, 254)}"
    return f"{first}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"


def ipv6(rng: random.Random) -> str:
    groups = [f"{rng.randint(0, 0xFFFF):04x}" for _ in range(8)]
    groups[0] = rng.choice(("2001", "2400", "2403", "2404", "fe80", "2a00"))
    style = rng.randint(0, 3)
    if style == 0:
        return ":".join(groups)  # full
    if style == 1:
        return ":".join(g.lstrip("0") or "0" for g in groups)  # no leading zeros
    keep_head = rng.randint(1, 3)
    keep_tail = rng.randint(1, 4)
    head = ":".join(g.lstrip("0") or "0" for g in groups[:keep_head])
    tail = ":".join(g.lstrip("0") or "0" for g in groups[-keep_tail:])
    text = f"{head}::{tail}"
    return text.upper() if style == 3 and rng.random() < 0.3 else text


def _token(rng: random.Random, n: int, alphabet: str = string.ascii_letters + string.digits) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def url_secret(rng: random.Random) -> str:
    host = rng.choice(vocab.SITE_HOSTS)
    hexs = "0123456789abcdef"
    forms = (
        lambda: f"https://{host}/reset-password?token={_token(rng, 32, hexs)}",
        lambda: f"https://{host}/account/verify?email={_local_part(rng)}%40gmail.com&sig={_token(rng, 20)}",
        lambda: f"https://{host}/reset/{_token(rng, 24)}",
        lambda: f"https://{host}/api/v2/orders?api_key={_token(rng, 28)}",
        lambda: f"https://{host}/checkout;jsessionid={_token(rng, 32, hexs.upper())}",
        lambda: f"https://{host}/login?session_id={_token(rng, 26)}&next=/billing",
        lambda: f"http://{host}/unsubscribe?e={_local_part(rng)}@outlook.com",
        lambda: f"https://{host}/magic-link?code={_token(rng, 40)}",
        lambda: f"https://{host}/invoice/download?id=88213&key={_token(rng, 16)}&exp=1767225600",
        lambda: f"{host}/s/{_token(rng, 22)}?auth={_token(rng, 12)}",
    )
    return rng.choice(forms)()


# ---------------------------------------------------------------- decoys


def order_number(rng: random.Random) -> str:
    forms = (
        lambda: "#" + checks.make_invalid_number(rng, rng.randint(7, 9), str(rng.randint(1, 9))),
        lambda: f"ORD-{rng.randint(2024, 2026)}-{_digits(rng, 6)}",
        lambda: checks.make_invalid_number(rng, rng.randint(8, 11), str(rng.randint(1, 9))),
        lambda: f"WEB{_digits(rng, 8)}",
        lambda: f"#{rng.randint(100, 999)}-{_digits(rng, 7)}-{_digits(rng, 7)}",
        lambda: f"AU{_digits(rng, 9)}",
        lambda: "#" + checks.make_invalid_number(rng, 16, "9"),
    )
    return rng.choice(forms)()


def invoice_number(rng: random.Random) -> str:
    return rng.choice(
        (
            f"INV-{_digits(rng, 6)}",
            f"INV{_digits(rng, 8)}",
            f"{rng.randint(2024, 2026)}/{_digits(rng, 5)}",
            f"TI-{_digits(rng, 7)}",
            checks.make_invalid_number(rng, 10, "7"),
        )
    )


def ticket_number(rng: random.Random) -> str:
    return rng.choice(
        (
            f"#{_digits(rng, 6)}",
            f"CS{_digits(rng, 7)}",
            f"TKT-{_digits(rng, 5)}",
            f"INC{_digits(rng, 7)}",
            f"SR-{_digits(rng, 4)}-{_digits(rng, 4)}",
            checks.make_invalid_number(rng, 8, "1"),
        )
    )


def tracking_number(rng: random.Random) -> str:
    letters = "".join(rng.choice(string.ascii_uppercase) for _ in range(3))
    return rng.choice(
        (
            f"33{letters}{_digits(rng, 6)}",
            f"{rng.randint(10, 99)}{letters}{_digits(rng, 7)}",
            checks.make_invalid_number(rng, rng.randint(12, 16), str(rng.randint(1, 9))),
            f"TT{_digits(rng, 9)}AU",
            f"CPX{_digits(rng, 9)}",
        )
    )


def booking_ref(rng: random.Random) -> str:
    alnum = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    return rng.choice(
        (
            _token(rng, 6, alnum),
            f"BK-{_token(rng, 8, alnum)}",
            f"QF{rng.randint(1, 999)}-{_token(rng, 6, alnum)}",
            f"RES{_digits(rng, 7)}",
        )
    )


def price(rng: random.Random) -> str:
    dollars = rng.choice((rng.randint(5, 99), rng.randint(100, 999), rng.randint(1000, 4999)))
    cents = rng.choice((0, 95, 99, 50, rng.randint(0, 99)))
    amount = f"{dollars:,}.{cents:02d}"
    return rng.choice((f"${amount}", f"AUD {amount}", f"${dollars}", f"{amount} AUD", f"A${amount}", f"${dollars:,}"))


def time_of_day(rng: random.Random) -> str:
    hour, minute = rng.randint(1, 12), rng.choice((0, 15, 30, 45, rng.randint(0, 59)))
    return rng.choice(
        (
            f"{hour}:{minute:02d}pm",
            f"{hour}:{minute:02d} am",
            f"{rng.randint(0, 23):02d}:{minute:02d}",
            f"{hour}pm",
            f"{hour}.{minute:02d}am",
        )
    )


def version(rng: random.Random) -> str:
    return rng.choice(
        (
            f"{rng.randint(1, 19)}.{rng.randint(0, 30)}.{rng.randint(0, 20)}.{rng.randint(1, 999)}",
            f"v{rng.randint(1, 9)}.{rng.randint(0, 20)}.{rng.randint(0, 9)}",
            f"build 10.0.{rng.randint(17000, 26000)}.{rng.randint(1000, 5000)}",
            f"{rng.randint(1, 30)}.{rng.randint(0, 9)}",
            f"iOS {rng.randint(15, 18)}.{rng.randint(0, 6)}.{rng.randint(1, 3)}",
            f"firmware {rng.randint(1, 5)}.{rng.randint(0, 99)}.{rng.randint(100, 999)}",
        )
    )


def error_code(rng: random.Random) -> str:
    return rng.choice(
        (
            f"E-{rng.randint(1000, 9999)}",
            f"0x{rng.randint(0x80000000, 0x8FFFFFFF):08X}",
            f"error {rng.choice((400, 401, 403, 404, 500, 502, 503, 504))}",
            f"ERR_{rng.choice(('TIMEOUT', 'AUTH', 'NETWORK'))}_{rng.randint(10, 99)}",
            f"code {rng.randint(100, 999)}",
            f"F{rng.randint(10, 99)}",
            f"E{rng.randint(1, 9)}",
        )
    )


def store_number(rng: random.Random) -> str:
    return rng.choice(
        (
            f"store {rng.randint(1, 2999):04d}",
            f"store #{rng.randint(100, 999)}",
            f"branch {rng.randint(100, 999)}",
            f"Store {rng.randint(1, 999)}",
        )
    )


def quantity(rng: random.Random) -> str:
    n = rng.randint(2, 12)
    return rng.choice(
        (
            f"{n} items",
            f"{n}kg",
            f"{n} boxes",
            f"{n} x 500ml",
            f"{n}GB",
            f"{rng.randint(10, 500)}m",
            f"{n} pairs",
            f"{rng.randint(2, 60)} days",
        )
    )


def percentage(rng: random.Random) -> str:
    return rng.choice(
        (f"{rng.randint(5, 80)}%", f"{rng.randint(1, 30)}.{rng.randint(0, 9)}%", f"{rng.randint(10, 50)} per cent")
    )


def public_url(rng: random.Random) -> str:
    host = rng.choice(
        (
            "www.bunnings.com.au",
            "www.telstra.com.au",
            "auspost.com.au",
            "www.jbhifi.com.au",
            "www.optus.com.au",
            "www.ato.gov.au",
            "help.example.com.au",
        )
    )
    path = rng.choice(
        ("/returns", "/help/contact-us", "/track", "/support/nbn-setup", "/faq/refunds", "/store-finder", "")
    )
    return f"https://{host}{path}"
