"""PII detection and redaction for chat messages, vectorised inside DuckDB SQL.

Every pattern lives here, once, as a :class:`PiiPattern`. The same regex text is
used by DuckDB (RE2) and by the pure-Python reference (:func:`redact_python`,
``re`` with ``re.ASCII`` so that ``\\d``/``\\b`` mean the same thing as in RE2).

RE2 has no look-around and no back-references, so boundaries are handled like this:

* **Leading boundary** — a character class is *consumed* into group 1 (or ``^``)
  and written back with ``\\1`` in the replacement (see :data:`LEAD`).
* **Trailing boundary** — a zero-width ``\\b`` after the last digit (RE2 supports
  ``\\b``), so nothing is consumed and two PII values separated by a single
  character are both found in one pass.

Numbers that need a checksum (payment card: Luhn; TFN: ATO check digit) or a range
check (IPv4 octets <= 255) cannot be decided by a regex. They are handled by one
*mark-and-classify* pass: ``regexp_replace`` wraps every candidate in a separator
character (U+001F), ``string_split`` cuts the text so candidates land on the even
list positions, ``list_transform`` replaces each candidate that passes the check
(SQL macros :data:`MACROS`) with its placeholder, and ``array_to_string`` glues the
text back. The text around a candidate is never touched, and a failing candidate
(order number, 16 digits failing Luhn) stays exactly as written. U+001F characters
already in a message are dropped by that pass (documented limitation).

Order of application (why it matters):

1. ``email`` — first, because a local part may contain digits/phone numbers
   (``jo0412345678@x.com``) and ``+`` (plus-addressing).
2. ``phone`` — before the checked numbers so ``+61 412 345 678`` is a phone and its
   tail ``412 345 678`` is never tested as a TFN. Phone shapes start with ``0``,
   ``+``, ``(0`` or ``1300``/``1800``; card candidates must start with 1-9 and
   cannot follow ``+``, so the two never compete for the same digits.
3. ``card`` / ``tfn`` / ``ipv4`` — one mark-and-classify pass (above).
4. ``street_address`` — last; placeholders contain no digits, so it never matches
   inside one.

A cheap pre-filter skips rows with neither a digit nor ``@`` (most chat lines):
no pattern can match them.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

import duckdb

#: Separator used by the mark-and-classify pass (ASCII "unit separator").
SEP = "\x1f"

#: Leading boundary for every digit-led pattern, consumed as group 1. Excludes word
#: characters and the characters that make a number part of something else:
#: ``#`` order numbers, ``$`` prices, ``.`` decimals and versions, ``+``,
#: ``-`` and ``/`` (dates, ids, unit/number) and ``@``.
LEAD = r"(^|[^0-9A-Za-z_#$.+/@-])"


@dataclass(frozen=True)
class PiiPattern:
    """One kind of personal data.

    ``body`` is the RE2-compatible regex of the value itself. Patterns with
    ``checked=True`` are only candidates; the SQL macro / Python ``validate``
    decides. ``description`` says what is and is deliberately *not* matched.
    """

    name: str
    placeholder: str
    body: str
    description: str
    checked: bool = False
    validate: Callable[[str], bool] | None = field(default=None, compare=False, repr=False)

    @property
    def regex(self) -> str:
        """Full standalone regex: ``LEAD`` (group 1) + value (group 2) + trailing ``\\b``."""
        if self.name == "email":
            return self.body
        return f"{LEAD}({self.body})\\b"


# --------------------------------------------------------------------------- checks

def luhn_ok(digits: str) -> bool:
    """Luhn (mod 10) check of a digit string (any length; caller checks length)."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


_TFN_WEIGHTS = (1, 4, 3, 7, 5, 8, 6, 9, 10)


def tfn_ok(digits: str) -> bool:
    """ATO tax file number check: weights 1,4,3,7,5,8,6,9,10, weighted sum % 11 == 0."""
    return len(digits) == 9 and sum(w * (ord(c) - 48) for w, c in zip(_TFN_WEIGHTS, digits)) % 11 == 0


def ipv4_ok(candidate: str) -> bool:
    """Exactly four dot-separated parts of 1-3 digits, each <= 255."""
    parts = candidate.split(".")
    return len(parts) == 4 and all(len(p) <= 3 and int(p) <= 255 for p in parts)


def _digits(candidate: str) -> str:
    return candidate.replace(" ", "").replace("-", "")


# --------------------------------------------------------------------------- patterns

EMAIL = PiiPattern(
    name="email",
    placeholder="[EMAIL]",
    # \u00c0-\u024f: Latin-1/Latin Extended letters (élodie@café.fr), written as literal
    # characters so the same class works in RE2 and Python.
    body=("[A-Za-z0-9._%+\u00c0-\u024f-]+@[A-Za-z0-9\u00c0-\u024f-]+"
          "(?:\\.[A-Za-z0-9\u00c0-\u024f-]+)*\\.[A-Za-z]{2,}"),
    description=(
        "ASCII e-mail addresses incl. plus-addressing (jo+tag@x.com), dots/% in the local "
        "part and any number of subdomains (a.b@mail.ex.com.au). Inside URLs the address "
        "IS redacted (https://x.com/u/jo@ex.com -> https://x.com/u/[EMAIL], mailto:[EMAIL]), "
        "privacy first; URL credentials user:pw@host.com lose 'pw@host.com'. A trailing "
        "sentence dot is kept; accented Latin letters are allowed in the local part and domain "
        "labels (élodie@café.fr). NOT matched: other scripts (CJK/Cyrillic addresses), "
        "single-label domains (root@localhost), '@handles', obfuscated 'jo at ex dot com'."
    ),
)

_SEP = r"[ .-]?"
PHONE = PiiPattern(
    name="phone",
    placeholder="[PHONE]",
    body="|".join([
        # +61 4xx xxx xxx, +614xxxxxxxx, +61 2 xxxx xxxx, +61 (0)2 xxxx xxxx
        rf"\+61{_SEP}(?:\(0\){_SEP})?[2-478](?:{_SEP}\d){{8}}",
        # other international: +<country>[ (area)] digits, 7-15 digits in all (E.164)
        rf"\+[1-9]\d{{0,2}}{_SEP}\(\d{{1,4}}\)(?:{_SEP}\d){{4,10}}",
        rf"\+[1-9](?:{_SEP}\d){{6,14}}",
        # (02) xxxx xxxx
        rf"\(0[2-478]\)(?:{_SEP}\d){{8}}",
        # 04xx xxx xxx, 0412345678, 02 xxxx xxxx, 02-xxxx-xxxx, 0412.345.678
        rf"0[2-478](?:{_SEP}\d){{8}}",
        # 1300 / 1800 xxx xxx
        rf"1[38]00(?:{_SEP}\d){{6}}",
    ]),
    description=(
        "Australian numbers: mobiles 04xx xxx xxx (spaced, dotted, dashed, compact), "
        "+61 4xx xxx xxx / +614xxxxxxxx, landlines (0X) XXXX XXXX, 0X XXXX XXXX, "
        "0X-XXXX-XXXX, +61 X XXXX XXXX (+61 (0)X ... too), 1300/1800 xxx xxx; and "
        "international E.164 '+<country> ...' with 7-15 digits and an optional '(area)'. "
        "Separators are single space/dot/dash between any digits (mixed separators are "
        "accepted: no back-references in RE2). NOT matched: 8-digit local numbers without "
        "area code (9876 5432), 13 xx xx numbers, numbers glued to letters (abc0412345678) "
        "or preceded by # $ . , + - / (order numbers, prices, ids), dates, times."
    ),
)

CARD = PiiPattern(
    name="card",
    placeholder="[CARD]",
    body="|".join([
        r"[1-9]\d{3}(?:[ -]?\d{4}){3}(?:[ -]?\d{3})?",  # 4-4-4-4 (16), 4-4-4-4-3 (19)
        r"[1-9]\d{3}[ -]?\d{6}[ -]?\d{4,5}",  # 4-6-5 Amex (15), 4-6-4 Diners (14)
        r"[1-9]\d{12,18}",  # compact 13-19 digits
    ]),
    checked=True,
    validate=lambda c: 13 <= len(_digits(c)) <= 19 and luhn_ok(_digits(c)),
    description=(
        "Payment card numbers of 13-19 digits, first digit 1-9, written 4-4-4-4 / 4-4-4-4-3 "
        "with space, dash or nothing, 4-6-5 (Amex) / 4-6-4 (Diners), or compact 13-19 "
        "digits; redacted ONLY when the Luhn check passes, so order/reference numbers "
        "and 16-digit numbers failing Luhn are kept. NOT matched: numbers after '#', '$', "
        "'-', '/', '.' or a letter (#4111111111111111 is an order number), other "
        "groupings (4-4-4-1), longer digit runs. Known limit: ~1 in 10 random 13-19 digit "
        "numbers passes Luhn; context words (REF, order) are not considered."
    ),
)

TFN = PiiPattern(
    name="tfn",
    placeholder="[TFN]",
    body=r"\d{3}[ -]?\d{3}[ -]?\d{3}",
    checked=True,
    validate=lambda c: tfn_ok(_digits(c)),
    description=(
        "Australian tax file numbers: 9 digits as 123 456 782, 123-456-782 or 123456782, "
        "redacted ONLY when the ATO check digit passes (weights 1,4,3,7,5,8,6,9,10; "
        "sum % 11 == 0). NOT matched: old 8-digit TFNs, 9-digit numbers failing the "
        "check, 9 digits inside a longer run. Known limit: ~1 in 11 random 9-digit "
        "numbers passes the check."
    ),
)

IPV4 = PiiPattern(
    name="ipv4",
    placeholder="[IP]",
    # Candidate is the whole dotted run (greedy), so 1.2.3.4.5 is seen as five parts
    # and rejected; the range check is done by the classifier.
    body=r"\d{1,3}\.\d{1,3}\.\d{1,3}\.\d+(?:\.\d+)*",
    checked=True,
    validate=ipv4_ok,
    description=(
        "IPv4 dotted quads with every octet 0-255. NOT matched: 999.1.1.1, 1.2.3.256, "
        "runs of 5+ parts (1.2.3.4.5), 'v1.2.3.4' or '1.2.3.4' glued to letters, "
        "IPv6. Decision: a bare 4-part version like 'version 1.2.3.4' with parts <= 255 "
        "IS redacted as [IP] (indistinguishable; we err on the side of privacy)."
    ),
)

_STREET_TYPES = (
    "Street", "St", "Road", "Rd", "Avenue", "Ave", "Drive", "Dr", "Lane", "Ln", "Place", "Pl",
    "Court", "Ct", "Crescent", "Cres", "Parade", "Pde", "Boulevard", "Blvd", "Highway", "Hwy",
    "Terrace", "Tce", "Way", "Circuit", "Cct", "Grove", "Square", "Sq", "Esplanade", "Esp",
    "Parkway", "Pkwy", "Promenade",
)
_STATES = "VIC|NSW|QLD|SA|WA|TAS|NT|ACT"
STREET_ADDRESS = PiiPattern(
    name="street_address",
    placeholder="[ADDRESS]",
    body=(
        r"(?:\d{1,4}[A-Za-z]?/)?\d{1,5}[A-Za-z]?(?:-\d{1,5})? "
        r"(?:[A-Z][A-Za-z'-]*\.? ){1,3}"
        "(?:" + "|".join(f"[{w[0]}{w[0].lower()}]{w[1:]}" for w in _STREET_TYPES) + ")"
        rf"(?:\.?,? (?:[A-Z][A-Za-z]+ ){{1,2}}(?:{_STATES})(?: \d{{4}})?)?"
    ),
    description=(
        "Street addresses of the shape <number> <1-3 Capitalised words> <street type>: "
        "12 Smith Street, 3/45 King St, 12A-14 Long Rd, 7 St Kilda Rd; the street type "
        "may be lower-case (12 Smith st). An optional ', Suburb STATE 1234' tail is "
        "included. NOT matched (limits): all-lower-case or ALL-CAPS names (12 smith "
        "street), types outside the list (Close, Rise, Walk, Row: too common as words), "
        "'Unit 3, 45 ...'/'Level 2, ...' prefixes (kept), PO boxes, suburb/postcode alone."
    ),
)

#: Every pattern, in order of application.
PATTERNS: tuple[PiiPattern, ...] = (EMAIL, PHONE, CARD, TFN, IPV4, STREET_ADDRESS)
#: Placeholder -> pattern name.
PLACEHOLDERS: dict[str, str] = {p.placeholder: p.name for p in PATTERNS}

#: The mark-and-classify candidate regex (IPv4 first: only it contains dots).
#: Groups: 1/2 = lead/IPv4 (may follow '/': http://10.0.0.1), 3/4 = lead/card-or-TFN.
#: Exactly one pair takes part in a match; the other pair is empty in the rewrite.
IP_LEAD = LEAD.replace("/", "")
CHECKED_REGEX = f"{IP_LEAD}({IPV4.body})\\b|{LEAD}({CARD.body}|{TFN.body})\\b"
#: Guard of the mark-and-classify pass, tested on the raw text. '@' is included because
#: replacing an e-mail can create a leading boundary: jo@ex.com123456782 -> [EMAIL]123456782.
CHECKED_GUARD_REGEX = f"@|{CHECKED_REGEX}"
#: Rows without a digit or '@' cannot contain PII of any kind.
PREFILTER_REGEX = r"[0-9@]"

#: DuckDB macros used by :func:`redact_sql`; created by :func:`install_macros`.
def _luhn_macro() -> str:
    # Unrolled over the 19 possible positions (no per-candidate list/lambda). ``r`` is the
    # digit string REVERSED and right-padded with zeros, so position k is substr(r, k, 1);
    # even positions are doubled through the lookup table 0,2,4,6,8,1,3,5,7,9.
    terms = " + ".join(
        f"[0, 2, 4, 6, 8, 1, 3, 5, 7, 9][ord(substr(r, {k}, 1)) - 47]" if k % 2 == 0 else f"(ord(substr(r, {k}, 1)) - 48)"
        for k in range(1, 20))
    return f"create or replace temp macro pii_luhn_rev_ok(r) as ({terms}) % 10 = 0"


def _tfn_macro() -> str:
    terms = " + ".join(f"{w} * (ord(substr(d, {i}, 1)) - 48)" for i, w in enumerate(_TFN_WEIGHTS, start=1))
    return f"create or replace temp macro pii_tfn_ok(d) as length(d) = 9 and ({terms}) % 11 = 0"


#: DuckDB macros used by :func:`redact_sql`; created by :func:`install_macros`.
MACROS: tuple[str, ...] = (
    _luhn_macro(),
    """create or replace temp macro pii_luhn_ok(d) as
        length(d) between 13 and 19 and pii_luhn_rev_ok(reverse(d) || '0000000000000000000')""",
    _tfn_macro(),
    """create or replace temp macro pii_octet_ok(o) as
        length(o) between 1 and 2 or (length(o) = 3 and o <= '255')""",
    """create or replace temp macro pii_ipv4_ok(c) as
        split_part(c, '.', 5) = '' and pii_octet_ok(split_part(c, '.', 1)) and pii_octet_ok(split_part(c, '.', 2))
        and pii_octet_ok(split_part(c, '.', 3)) and pii_octet_ok(split_part(c, '.', 4))""",
    # One candidate of CHECKED_REGEX -> its placeholder, or itself if the check fails.
    # Macro arguments are substituted textually, so the digits ``d`` (separators removed)
    # and ``r`` (reversed, zero-padded) are computed once by the caller and passed in.
    """create or replace temp macro pii_classify(c, d, r) as
        case when contains(c, '.') then (case when pii_ipv4_ok(c) then '[IP]' else c end)
             when pii_tfn_ok(d) then '[TFN]'
             when length(d) between 13 and 19 and pii_luhn_rev_ok(r) then '[CARD]'
             -- 4-4-4-4-3 that fails as 19 digits: a 16-digit card + a separate 3-digit
             -- number (e.g. a CVV) -> redact the card, keep ' 123'.
             when substr(c, length(c) - 3, 1) in (' ', '-')
                  and pii_luhn_ok(replace(replace(left(c, length(c) - 4), ' ', ''), '-', ''))
             then '[CARD]' || right(c, 4)
             else c end""",
)


def sql_literal(text: str) -> str:
    """Quote ``text`` as a DuckDB string literal."""
    return "'" + text.replace("'", "''") + "'"


def install_macros(con: duckdb.DuckDBPyConnection) -> None:
    """Create the (temporary, per-connection) macros :func:`redact_sql` relies on."""
    for ddl in MACROS:
        con.execute(ddl)


def _replace_sql(expr: str, pattern: PiiPattern) -> str:
    repl = pattern.placeholder if pattern.name == "email" else "\\1" + pattern.placeholder
    return f"regexp_replace({expr}, {sql_literal(pattern.regex)}, {sql_literal(repl)}, 'g')"


def _checked_sql(expr: str, guard_column: str) -> str:
    """Mark-and-classify pass for card / TFN / IPv4 (see module docstring).

    The guard looks at the *raw* column (cheap, and ``expr`` is not evaluated twice);
    :func:`redact_python` uses the same guard so both strip U+001F identically.
    """
    marked = (f"regexp_replace(replace({expr}, {sql_literal(SEP)}, ''), {sql_literal(CHECKED_REGEX)}, "
              f"{sql_literal(chr(92) + '1' + chr(92) + '3' + SEP + chr(92) + '2' + chr(92) + '4' + SEP)}, 'g')")
    pieces = f"string_split({marked}, {sql_literal(SEP)})"
    # Bind each candidate's digits once (struct), then classify the even positions.
    bound = (f"list_transform({pieces}, (x, i) -> case when i % 2 = 0 then "
             "list_transform([replace(replace(x, ' ', ''), '-', '')], "
             "d -> {'c': x, 'd': d, 'r': reverse(d) || '0000000000000000000'})[1] "
             "else {'c': x, 'd': '', 'r': ''} end)")
    classified = f"list_transform({bound}, (s, i) -> case when i % 2 = 0 then pii_classify(s.c, s.d, s.r) else s.c end)"
    return (f"case when regexp_matches({guard_column}, {sql_literal(CHECKED_GUARD_REGEX)}) "
            f"then array_to_string({classified}, '') else {expr} end")


def redact_sql(column: str) -> str:
    """DuckDB SQL expression: ``column`` with PII replaced by typed placeholders.

    Needs :func:`install_macros` on the connection. NULL stays NULL.
    """
    expr = _replace_sql(column, EMAIL)
    expr = _replace_sql(expr, PHONE)
    expr = _checked_sql(expr, column)
    expr = _replace_sql(expr, STREET_ADDRESS)
    return f"(case when regexp_matches({column}, {sql_literal(PREFILTER_REGEX)}) then {expr} else {column} end)"


def detect_sql(column: str) -> str:
    """DuckDB SQL expression: list of PII type names found in ``column`` (in text order)."""
    names = "|".join(re.escape(p.placeholder[1:-1]) for p in PATTERNS)
    mapping = ", ".join(f"'{p.placeholder[1:-1]}': '{p.name}'" for p in PATTERNS)
    return (f"list_transform(regexp_extract_all({redact_sql(column)}, '\\[({names})\\]', 1), "
            f"x -> map {{{mapping}}}[x][1])")


# --------------------------------------------------------------------------- python

_FLAGS = re.ASCII
_EMAIL_RE = re.compile(EMAIL.regex, _FLAGS)
_PHONE_RE = re.compile(PHONE.regex, _FLAGS)
_CHECKED_RE = re.compile(CHECKED_REGEX, _FLAGS)
_CHECKED_GUARD_RE = re.compile(CHECKED_GUARD_REGEX, _FLAGS)
_ADDRESS_RE = re.compile(STREET_ADDRESS.regex, _FLAGS)
_PREFILTER_RE = re.compile(PREFILTER_REGEX, _FLAGS)


def classify_candidate(candidate: str) -> tuple[PiiPattern, str] | None:
    """Python twin of the ``pii_classify`` macro: ``(pattern, redacted part)`` or None."""
    if "." in candidate:
        return (IPV4, candidate) if ipv4_ok(candidate) else None
    digits = _digits(candidate)
    if tfn_ok(digits):
        return TFN, candidate
    if 13 <= len(digits) <= 19 and luhn_ok(digits):
        return CARD, candidate
    head = _digits(candidate[:-4])
    if candidate[-4:-3] in (" ", "-") and 13 <= len(head) <= 19 and luhn_ok(head):
        return CARD, candidate[:-4]
    return None


def _scan(text: str, found: list[tuple[str, str]] | None) -> str:
    def simple(pattern: PiiPattern, regex: re.Pattern[str]) -> Callable[[re.Match[str]], str]:
        def sub(m: re.Match[str]) -> str:
            if pattern.name == "email":
                if found is not None:
                    found.append((pattern.name, m.group(0)))
                return pattern.placeholder
            if found is not None:
                found.append((pattern.name, m.group(2)))
            return m.group(1) + pattern.placeholder
        return sub

    def checked(m: re.Match[str]) -> str:
        lead, candidate = (m.group(1), m.group(2)) if m.group(2) is not None else (m.group(3), m.group(4))
        hit = classify_candidate(candidate)
        if hit is None:
            return m.group(0)
        pattern, value = hit
        if found is not None:
            found.append((pattern.name, value))
        return lead + pattern.placeholder + candidate[len(value):]

    if not _PREFILTER_RE.search(text):
        return text
    has_checked = _CHECKED_GUARD_RE.search(text) is not None  # same guard (on the raw text) as SQL
    text = _EMAIL_RE.sub(simple(EMAIL, _EMAIL_RE), text)
    text = _PHONE_RE.sub(simple(PHONE, _PHONE_RE), text)
    if has_checked:
        text = _CHECKED_RE.sub(checked, text.replace(SEP, ""))
    return _ADDRESS_RE.sub(simple(STREET_ADDRESS, _ADDRESS_RE), text)


def redact_python(text: str | None) -> str | None:
    """Pure-Python reference of :func:`redact_sql` (same patterns, same order)."""
    return None if text is None else _scan(text, None)


def find_pii(text: str) -> list[tuple[str, str]]:
    """``(type name, value)`` for every PII value found, in order of detection."""
    found: list[tuple[str, str]] = []
    _scan(text, found)
    return found
