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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import duckdb
from stdnum.au import abn as stdnum_abn
from stdnum.au import acn as stdnum_acn

from pipeline.privacy import identifiers, names, udf

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
    #: ``raw`` patterns carry their own boundaries: ``regex`` is ``body`` unchanged.
    raw: bool = False
    validate: Callable[[str], bool] | None = field(default=None, compare=False, repr=False)

    @property
    def regex(self) -> str:
        """Full standalone regex: ``LEAD`` (group 1) + value (group 2) + trailing ``\\b``."""
        if self.name == "email" or self.raw:
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


_MEDICARE_WEIGHTS = (1, 3, 7, 9, 1, 3, 7, 9)


def medicare_ok(digits: str) -> bool:
    """Medicare card check (python-stdnum has none): first digit 2-6, weighted sum of the first
    8 digits (1,3,7,9,1,3,7,9) mod 10 equals the 9th; 10 digits, or 11 with the IRN."""
    return (
        len(digits) in (10, 11)
        and digits[0] in "23456"
        and sum(w * (ord(c) - 48) for w, c in zip(_MEDICARE_WEIGHTS, digits)) % 10 == ord(digits[8]) - 48
    )


def ipv4_ok(candidate: str) -> bool:
    """Exactly four dot-separated parts of 1-3 digits, each <= 255."""
    parts = candidate.split(".")
    return len(parts) == 4 and all(len(p) <= 3 and int(p) <= 255 for p in parts)


def _digits(candidate: str) -> str:
    return candidate.replace(" ", "").replace("-", "").replace(".", "")


# --------------------------------------------------------------------------- patterns

EMAIL = PiiPattern(
    name="email",
    placeholder="[EMAIL]",
    # \u00c0-\u024f: Latin-1/Latin Extended letters (élodie@café.fr), written as literal
    # characters so the same class works in RE2 and Python.
    body=("[A-Za-z0-9._%+\u00c0-\u024f-]+@[A-Za-z0-9\u00c0-\u024f-]+(?:\\.[A-Za-z0-9\u00c0-\u024f-]+)*\\.[A-Za-z]{2,}"),
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
    body="|".join(
        [
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
            # international from Australia: 0011 <country> <number>
            rf"0011{_SEP}[1-9]\d{{0,2}}(?:{_SEP}\d){{6,12}}",
            # North American (415) 555-0132
            r"\([2-9]\d{2}\) ?\d{3}[ .-]\d{4}",
        ]
    ),
    description=(
        "Australian numbers: mobiles 04xx xxx xxx (spaced, dotted, dashed, compact), "
        "+61 4xx xxx xxx / +614xxxxxxxx, landlines (0X) XXXX XXXX, 0X XXXX XXXX, "
        "0X-XXXX-XXXX, +61 X XXXX XXXX (+61 (0)X ... too), 1300/1800 xxx xxx; and "
        "international E.164 '+<country> ...' with 7-15 digits and an optional '(area)'. "
        "Separators are single space/dot/dash between any digits (mixed separators are "
        "accepted: no back-references in RE2); '0011 <country> ...' and North American '(415) 555-0132'. "
        "NOT matched: 8-digit local numbers without "
        "area code (9876 5432), 13 xx xx numbers, numbers glued to letters (abc0412345678) "
        "or preceded by # $ . , + - / (order numbers, prices, ids), dates, times."
    ),
)

CARD = PiiPattern(
    name="card",
    placeholder="[CARD]",
    # One alternative for every grouping with spaces or dashes (4-4-4-4, 4-6-5, 4-4-4-4-2,
    # compact, double spaces): RE2 takes the first alternative that matches, so a narrower
    # 4-4-4-4 branch listed first cut 19-digit cards to 16 digits that then failed Luhn. Dots only
    # in 4-digit groups (4111.1111.1111.1111): a free dot would join a number to the next IP.
    body=r"[1-9]\d{3}(?:\.\d{4}){3}(?:\.\d{1,3})?|[1-9](?:(?:[ -]|  )?\d){12,18}",
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
    "Street",
    "St",
    "Road",
    "Rd",
    "Avenue",
    "Ave",
    "Drive",
    "Dr",
    "Lane",
    "Ln",
    "Place",
    "Pl",
    "Court",
    "Ct",
    "Crescent",
    "Cres",
    "Parade",
    "Pde",
    "Boulevard",
    "Blvd",
    "Highway",
    "Hwy",
    "Terrace",
    "Tce",
    "Way",
    "Circuit",
    "Cct",
    "Grove",
    "Square",
    "Sq",
    "Esplanade",
    "Esp",
    "Parkway",
    "Pkwy",
    "Promenade",
    "Close",
    "Rise",
    "Walk",
    "Mews",
    "Loop",
    "Circle",
    "Glade",
    "Vista",
    "Link",
    "Gardens",
    "Quay",
    "Strand",
    "Track",
    "Trail",
    "Cl",
    "Gr",
    "Cir",
    "Gdns",
    "Bvd",
    "Wy",
    "Ridge",
)
_STATES = "VIC|NSW|QLD|SA|WA|TAS|NT|ACT"
#: ', Suburb STATE 1234' after a street line: comma, space or a line break, 1-3 suburb words in
#: any case, the state abbreviated or in full (any case), an optional postcode.
ADDRESS_TAIL = identifiers.ADDRESS_TAIL
_TYPES = "|".join(_STREET_TYPES)
STREET_ADDRESS = PiiPattern(
    name="street_address",
    placeholder="[ADDRESS]",
    body=(
        r"(?:\d{1,4}[A-Za-z]?/)?\d{1,5}[A-Za-z]?(?:-\d{1,5})? "
        r"(?:[A-Z][A-Za-z'-]*\.? ){1,3}"
        "(?:" + "|".join(f"[{w[0]}{w[0].lower()}]{w[1:]}" for w in _STREET_TYPES) + ")"
        rf"(?:{ADDRESS_TAIL})?"
        # Lower-case street names only with the suburb/state tail: "3 hours on the road" is not one.
        rf"|(?:\d{{1,4}}[A-Za-z]?/)?\d{{1,5}}[A-Za-z]?(?:-\d{{1,5}})? (?:[A-Za-z][A-Za-z'-]*\.? ){{1,3}}"
        rf"(?i:{_TYPES}){ADDRESS_TAIL}"
    ),
    description=(
        "Street addresses of the shape <number> <1-3 Capitalised words> <street type>: "
        "12 Smith Street, 3/45 King St, 12A-14 Long Rd, 7 St Kilda Rd; the street type "
        "may be lower-case (12 Smith st). An optional ', Suburb STATE 1234' tail (comma, space or "
        "line break; state abbreviated or in full) is included; an all-lower-case address is "
        "matched only with that tail (12 smith street, richmond vic 3121). NOT matched (limits): "
        "lower-case addresses without a state, types outside the list (Row: too common as a word), "
        "'Unit 3, 45 ...'/'Level 2, ...' prefixes (kept), PO boxes, suburb/postcode alone."
    ),
)

LOCAL_PHONE = PiiPattern(
    name="phone",
    placeholder="[PHONE]",
    body=r"13 \d{2} \d{2}",
    description=(
        "13 xx xx numbers. 8-digit local numbers (9xxx xxxx) only after call/ring/phone/mobile... "
        "(identifiers.RULES): unlabelled they are the middle of 16-digit reference numbers. NOT matched: "
        "unlabelled 8-digit numbers."
    ),
)
URL_SECRET = PiiPattern(
    name="url_secret",
    placeholder="[URL]",
    body=(
        r"(?i)\b(?:https?://|www\.|(?:[a-z0-9-]+\.)+[a-z]{2,}/)[^\s<>\"']*?(?:[?&;#](?:[a-z_]*(?:token|key|sig|signature|session|sess|sid|auth|"
        r"code|otp|pass|pwd|secret|jwt|hash|email|user|login|reset|verify|nonce|state|ticket)[a-z_]*)=|@|%40"
        r"|/[A-Za-z0-9_-]*\d[A-Za-z0-9_-]*[A-Za-z][A-Za-z0-9_-]{14,}|/[A-Za-z0-9_-]*[A-Za-z][A-Za-z0-9_-]*\d"
        r"[A-Za-z0-9_-]{14,})[^\s<>\"']*[^\s<>\"'.,;:!?)\]]"
    ),
    raw=True,
    description=(
        "Whole URLs (with or without https:// / www.: 'my.shop.com.au/s/<token>') that carry a secret: a query key naming a token/key/signature/session/code/"
        "password/e-mail, an '@' or '%40', or a path segment of 16+ mixed letters and digits. "
        "NOT matched: public help URLs without such parts (kept as written)."
    ),
)
OBFUSCATED_EMAIL = PiiPattern(
    name="email",
    placeholder="[EMAIL]",
    body=(
        r"(?i)\b[a-z0-9][a-z0-9._%+-]*(?:(?: ?[\[({]dot[\])}] ?| dot )[a-z0-9_%+-]+)*"
        r"(?: ?[\[({]at[\])}] ?| at | @ )[a-z0-9-]+(?:(?: ?[\[({]dot[\])}] ?| dot |\.)[a-z0-9-]+)*"
        r"(?: ?[\[({]dot[\])}] ?| dot |\.)(?:com|net|org|edu|gov|io|co|au|nz|uk|me|info|biz|id|asn)\b"
        r"(?:(?: ?[\[({]dot[\])}] ?| dot |\.)(?:au|nz|uk|com|net|org))?"
    ),
    raw=True,
    description=(
        "Obfuscated e-mails: 'jane dot doe at gmail dot com', 'jane[at]example[dot]com.au', "
        "'jo (at) x (dot) com'. NOT matched: ' at ' without a dotted domain ending in a known TLD."
    ),
)
HANDLE = PiiPattern(
    name="social_handle",
    placeholder="[HANDLE]",
    body=r"(^|[^A-Za-z0-9._%+@\[-])@[A-Za-z0-9_](?:[A-Za-z0-9_.]*[A-Za-z0-9_])?",
    raw=True,
    description="Social handles '@name' (run after e-mails, so addresses are gone). NOT matched: e-mails.",
)
_H = "[0-9A-Fa-f]{1,4}"
IPV6 = PiiPattern(
    name="ipv6",
    placeholder="[IP]",
    body=(
        rf"(^|[^0-9A-Za-z:])((?:{_H}:){{7}}{_H}|(?:{_H}:){{1,7}}:(?:{_H}(?::{_H}){{0,6}})?|::{_H}(?::{_H}){{0,6}})"
        r"\b"
    ),
    raw=True,
    description="IPv6, full (8 groups) and compressed ('::'). NOT matched: times like 10:30:00 (no '::').",
)

ABN = PiiPattern(
    name="abn",
    placeholder="[ABN]",
    # Dotted ABNs (51.824.753.556) are IPv4-shaped: the IPv4 candidate's check falls back to ABN.
    body=r"\d{2}[ -]?\d{3}[ -]?\d{3}[ -]?\d{3}",
    checked=True,
    validate=lambda c: stdnum_abn.is_valid(_digits(c)),
    description="Unlabelled 11-digit ABNs (2-3-3-3 or compact) passing the mod-89 check. NOT matched: "
    "failing numbers; numbers after order/invoice/ticket/... words (decoys).",
)
ACN = PiiPattern(
    name="acn",
    placeholder="[ACN]",
    body=TFN.body,
    checked=True,
    validate=lambda c: stdnum_acn.is_valid(_digits(c)),
    description="Unlabelled 9-digit ACNs passing the check digit (after the TFN check). NOT matched: failing "
    "numbers, numbers after decoy words.",
)
MEDICARE = PiiPattern(
    name="medicare",
    placeholder="[MEDICARE]",
    body=r"[2-6]\d{3} ?\d{5} ?\d(?:(?: ?[/-] ?| )?\d)?\b",
    checked=True,
    validate=lambda c: medicare_ok(_digits(c).replace("/", "")),
    description="Unlabelled Medicare numbers (4-5-1 + optional IRN, first digit 2-6) passing the check digit. "
    "NOT matched: failing numbers, numbers after decoy words.",
)
NAME = PiiPattern(
    name="person_name",
    placeholder="[NAME]",
    body=r"(?:[A-Z][a-z]+)",
    raw=True,
    description="Person names after cues or from the strict given-name list; see pipeline.privacy.names. "
    "NOT matched: brands, cities, streets, common words outside name contexts.",
)

#: Every pattern, in order of application.
PATTERNS: tuple[PiiPattern, ...] = (
    EMAIL,
    PHONE,
    CARD,
    TFN,
    IPV4,
    STREET_ADDRESS,
    URL_SECRET,
    HANDLE,
    IPV6,
    ABN,
    ACN,
    MEDICARE,
    NAME,
)
#: Placeholder -> pattern name (first pattern wins: [IP] is ipv4 and ipv6, [EMAIL] plain and obfuscated).
PLACEHOLDERS: dict[str, str] = {}
for _p in (*PATTERNS, *identifiers.RULES):
    PLACEHOLDERS.setdefault(_p.placeholder, _p.name)

#: Words that make the number after them a decoy (kept even when a check digit passes):
#: "version 7.16.11.243" is not an IP, "order 123 456 782" is not a TFN.
VERSION_PREFIX = (
    r"(?i:(?:version|ver|v|build|app v|firmware|release|ios|android|updated? to|upgraded? to|running)\.?[ :]*"
    r"(?:is |no\.? )?)"
)
DECOY_PREFIX = (
    r"(?i:(?:order|invoice|inv|ticket|tracking|consignment|booking|reference|ref|case|receipt|"
    r"transaction|txn|confirmation|conf|store|shop|item|sku|product|part|serial|sn|model|po|job|"
    r"claim|request|req|incident|customer|cust|member|membership|policy|parcel|shipment|"
    r"quote|rma|return|error|code|err)(?: no\.?| number| num| id| ref)?[ :-]*(?:is |was |of )?)"
)
#: The mark-and-classify candidate regex (IPv4 first: only it contains dots).
#: Groups: 1/2/3 = lead/version-prefix/IPv4 (may follow '/': http://10.0.0.1),
#: 4/5/6 = lead/decoy-prefix/card-ABN-Medicare-TFN-ACN. One triple takes part in a match.
IP_LEAD = LEAD.replace("/", "")
CHECKED_REGEX = (
    f"{IP_LEAD}({VERSION_PREFIX}?)({IPV4.body})\\b"
    f"|{LEAD}({DECOY_PREFIX}?)({CARD.body}|{ABN.body}|{MEDICARE.body}|{TFN.body})\\b"
)
#: A card candidate without its last group ("4111 1111 1111 1111 123" -> the first 16 digits).
CARD_HEAD_REGEX = r"^(.*\d)(?:[ .-]|  )\d+$"
#: Splits a marked candidate into its (decoy) prefix and the number.
PREFIX_SEP = "\x1e"
#: Guard of the mark-and-classify pass, tested on the raw text. '@' is included because
#: replacing an e-mail can create a leading boundary: jo@ex.com123456782 -> [EMAIL]123456782.
CHECKED_GUARD_REGEX = f"@|{CHECKED_REGEX}"
#: Rows that can hold a URL.
URL_GUARD_REGEX = r"(?i:https?://|www\.|\.[a-z]{2,}/)"
#: Rows that can hold an identifier: digits, '@', '::' (IPv6), obfuscated 'at'. Names are checked on all rows.
PREFILTER_REGEX = r"[0-9@:]|(?i:[\[({ ]at[\])} ])"


#: DuckDB macros used by :func:`redact_sql`; created by :func:`install_macros`.
def _luhn_macro() -> str:
    # Unrolled over the 19 possible positions (no per-candidate list/lambda). ``r`` is the
    # digit string REVERSED and right-padded with zeros, so position k is substr(r, k, 1);
    # even positions are doubled through the lookup table 0,2,4,6,8,1,3,5,7,9.
    terms = " + ".join(
        f"[0, 2, 4, 6, 8, 1, 3, 5, 7, 9][ord(substr(r, {k}, 1)) - 47]"
        if k % 2 == 0
        else f"(ord(substr(r, {k}, 1)) - 48)"
        for k in range(1, 20)
    )
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
    """create or replace temp macro pii_abn_ok(d) as length(d) = 11 and (10 * (ord(substr(d, 1, 1)) - 49)
        + (ord(substr(d, 2, 1)) - 48) + 3 * (ord(substr(d, 3, 1)) - 48) + 5 * (ord(substr(d, 4, 1)) - 48)
        + 7 * (ord(substr(d, 5, 1)) - 48) + 9 * (ord(substr(d, 6, 1)) - 48) + 11 * (ord(substr(d, 7, 1)) - 48)
        + 13 * (ord(substr(d, 8, 1)) - 48) + 15 * (ord(substr(d, 9, 1)) - 48) + 17 * (ord(substr(d, 10, 1)) - 48)
        + 19 * (ord(substr(d, 11, 1)) - 48)) % 89 = 0""",
    """create or replace temp macro pii_acn_ok(d) as length(d) = 9 and (10 - (8 * (ord(substr(d, 1, 1)) - 48)
        + 7 * (ord(substr(d, 2, 1)) - 48) + 6 * (ord(substr(d, 3, 1)) - 48) + 5 * (ord(substr(d, 4, 1)) - 48)
        + 4 * (ord(substr(d, 5, 1)) - 48) + 3 * (ord(substr(d, 6, 1)) - 48) + 2 * (ord(substr(d, 7, 1)) - 48)
        + (ord(substr(d, 8, 1)) - 48)) % 10) % 10 = ord(substr(d, 9, 1)) - 48""",
    """create or replace temp macro pii_medicare_ok(d) as length(d) between 10 and 11
        and substr(d, 1, 1) between '2' and '6' and ((ord(substr(d, 1, 1)) - 48) + 3 * (ord(substr(d, 2, 1)) - 48)
        + 7 * (ord(substr(d, 3, 1)) - 48) + 9 * (ord(substr(d, 4, 1)) - 48) + (ord(substr(d, 5, 1)) - 48)
        + 3 * (ord(substr(d, 6, 1)) - 48) + 7 * (ord(substr(d, 7, 1)) - 48) + 9 * (ord(substr(d, 8, 1)) - 48)) % 10
        = ord(substr(d, 9, 1)) - 48""",
    # One candidate of CHECKED_REGEX -> its placeholder, or itself if the check fails.
    # Macro arguments are substituted textually, so the digits ``d`` (separators removed)
    # and ``r`` (reversed, zero-padded) are computed once by the caller and passed in.
    # Check digits are SQL (not python-stdnum in a UDF): a Python UDF call per candidate
    # would cost more than the whole regex chain; tests cross-check these against stdnum.
    """create or replace temp macro pii_classify(c, d, r) as
        case when contains(c, '.') and pii_ipv4_ok(c) then '[IP]'
             -- Dotted and not an IP: an ABN or card written with dots (51.824.753.556).
             -- Branch on the digit count first: CASE evaluates a branch only for the candidates
             -- that reach it, so each check runs on its own lengths (same order as before:
             -- TFN, ACN, ABN, Medicare, card).
             when length(d) = 9 then
                 (case when pii_tfn_ok(d) then '[TFN]' when pii_acn_ok(d) then '[ACN]' else c end)
             when length(d) = 10 then (case when pii_medicare_ok(d) then '[MEDICARE]' else c end)
             when length(d) = 11 then
                 (case when pii_abn_ok(d) then '[ABN]' when pii_medicare_ok(d) then '[MEDICARE]' else c end)
             when length(d) between 13 and 19 then
                 (case when pii_luhn_rev_ok(r) then '[CARD]'
                       -- Fails as a whole: a card + a separate number after it (a CVV, a
                       -- quantity) -> redact the card, keep the last group (' 123').
                       when pii_luhn_ok(regexp_replace(regexp_extract(c, '^(.*\\d)(?:[ .-]|  )\\d+$', 1), '[ .-]', '', 'g'))
                       then '[CARD]' || substr(c, length(regexp_extract(c, '^(.*\\d)(?:[ .-]|  )\\d+$', 1)) + 1)
                       else c end)
             else c end""",
)


def sql_literal(text: str) -> str:
    """Quote ``text`` as a DuckDB string literal."""
    return "'" + text.replace("'", "''") + "'"


def install_macros(con: duckdb.DuckDBPyConnection) -> None:
    """Create the (temporary, per-connection) macros :func:`redact_sql` relies on."""
    for ddl in MACROS:
        con.execute(ddl)
    names.install_lookup(con)


def warm() -> None:
    """Build the redaction's SQL and the name lookup's tables now and run them once (~1.5 s the
    first redaction of a process paid: the gazetteer alternations, the dictionaries, the UDF's
    tables, the Python twin's patterns), so that a long-running process's first batch does not
    wait for them."""
    con = duckdb.connect()
    try:
        install_macros(con)
        con.execute("create table warm (t varchar)")
        con.execute("insert into warm values ('Thanks heaps, sarah o''neil'), ('call 0412 345 678')")
        con.execute(f"select {redact_sql('t')} from warm").fetchall()
        con.execute(redact_query("warm", ["t"])).fetchall()
    finally:
        con.close()
    redact_python("Thanks heaps, sarah o'neil")  # the twin's ``re`` patterns (small quarantines)


def _replace_sql(expr: str, pattern: PiiPattern) -> str:
    whole = pattern.name == "email" or pattern is URL_SECRET  # patterns without a kept lead group
    repl = pattern.placeholder if whole else "\\1" + pattern.placeholder
    return f"regexp_replace({expr}, {sql_literal(pattern.regex)}, {sql_literal(repl)}, 'g')"


def _let(expr: str, guard_column: str, guard_regex: str, body) -> str:
    """``body(x)`` where the raw column matches ``guard_regex``, else ``expr``; ``expr`` is bound
    once (a one-element list + lambda), so the SQL text does not double at every guard."""
    return (
        f"list_transform([{expr}], x -> case when regexp_matches({guard_column}, {sql_literal(guard_regex)}) "
        f"then {body('x')} else x end)[1]"
    )


def _checked_pieces(expr: str) -> str:
    """The text cut so that every checked-number candidate (``prefix PREFIX_SEP number``) is on an
    even list position (module docstring)."""
    rewrite = "\\1\\4" + SEP + "\\2\\5" + PREFIX_SEP + "\\3\\6" + SEP
    clean = f"replace(replace({expr}, {sql_literal(SEP)}, ''), {sql_literal(PREFIX_SEP)}, '')"
    marked = f"regexp_replace({clean}, {sql_literal(CHECKED_REGEX)}, {sql_literal(rewrite)}, 'g')"
    return f"string_split({marked}, {sql_literal(SEP)})"


#: A decoy prefix keeps IPs/versions and short numbers, not 13-19 digit Luhn-valid cards.
_CLASSIFY = "case when {p} <> '' and (contains({c}, '.') or length({d}) < 13) then {p} || {c} else {p} || pii_classify({c}, {d}, {r}) end"
_REVERSED = "case when length({d}) >= 13 then reverse({d}) || '0000000000000000000' else '' end"


def _checked_join(pieces: str) -> str:
    """The cut text glued back, every candidate that passes its check replaced by its placeholder."""
    ps = sql_literal(PREFIX_SEP)
    # Each candidate's prefix, number and digits as one struct (one flat lambda per step: nested
    # lambdas cost 40% more), then its reversed digits for Luhn, then the classification.
    number = f"split_part(x, {ps}, 2)"
    fields = (
        f"list_transform({pieces}, (x, i) -> case when i % 2 = 0 then "
        f"{{'p': split_part(x, {ps}, 1), 'c': {number}, "
        f"'d': regexp_replace({number}, '[ ./-]', '', 'g')}} "
        "else {'p': '', 'c': x, 'd': ''} end)"
    )
    bound = f"list_transform({fields}, s -> {{'p': s.p, 'c': s.c, 'd': s.d, 'r': {_REVERSED.format(d='s.d')}}})"
    classified = (
        f"list_transform({bound}, (s, i) -> case when i % 2 = 1 then s.c "
        f"else {_CLASSIFY.format(p='s.p', c='s.c', d='s.d', r='s.r')} end)"
    )
    return f"array_to_string({classified}, '')"


def _checked_sql(expr: str) -> str:
    """Mark-and-classify pass for card / TFN / ACN / ABN / Medicare / IPv4 (module docstring).

    A candidate is marked ``SEP prefix PREFIX_SEP number SEP``; a non-empty decoy or
    version prefix keeps the number as written.
    """
    return _checked_join(_checked_pieces(expr))


def _identifiers_sql(column: str) -> str:
    """Every identifier rewrite, in order (module docstring), on rows passing the prefilter.

    Guards are plain ``case when`` on the raw column, never a lambda: DuckDB 1.0
    re-initialises regexes inside a lambda per chunk, which cost more than the guard saved.
    """
    url = f"(case when regexp_matches({column}, {sql_literal(URL_GUARD_REGEX)}) then {_replace_sql(column, URL_SECRET)} else {column} end)"
    rules = identifiers.apply_sql(url, sql_literal)
    expr = f"(case when regexp_matches({column}, {sql_literal(identifiers.GUARD_REGEX)}) then {rules} else {url} end)"
    expr = _replace_sql(expr, EMAIL)
    expr = _replace_sql(expr, OBFUSCATED_EMAIL)
    expr = _replace_sql(expr, HANDLE)
    expr = _replace_sql(expr, PHONE)
    checked = _checked_sql(expr)
    expr = f"(case when regexp_matches({column}, {sql_literal(CHECKED_GUARD_REGEX)}) then {checked} else {expr} end)"
    expr = _replace_sql(expr, LOCAL_PHONE)
    # Unguarded: a case-when guard would repeat the whole chain so far (the classify pass
    # included) in the SQL text, and every copy costs compile and run time.
    expr = identifiers.apply_sql(expr, sql_literal, identifiers.LATE_RULES)
    tail = sql_literal(identifiers.CARD_TAIL_REGEX)
    expr = f"regexp_replace({expr}, {tail}, '\\1[CARD_EXPIRY]\\3[CVV]', 'g')"
    expr = _replace_sql(expr, IPV6)
    return _replace_sql(expr, STREET_ADDRESS)


def redact_sql(column: str) -> str:
    """DuckDB SQL expression: ``column`` with PII replaced by typed placeholders.

    Needs :func:`install_macros` on the connection. NULL stays NULL.
    """
    ids = (
        f"(case when regexp_matches({column}, {sql_literal(PREFILTER_REGEX)}) "
        f"then {_identifiers_sql(column)} else {column} end)"
    )
    return f"({names.redact_sql(ids, sql_literal, column)})"


def detect_sql(column: str) -> str:
    """DuckDB SQL expression: list of PII type names found in ``column`` (in text order).

    ``map_extract`` returns a list on every DuckDB; ``map[key]`` returned one on 1.0 but gives
    the value itself since 1.1, where ``[1]`` then took its first character.
    """
    labels = "|".join(re.escape(p[1:-1]) for p in PLACEHOLDERS)
    mapping = ", ".join(f"'{p[1:-1]}': '{n}'" for p, n in PLACEHOLDERS.items())
    return (
        f"list_transform(regexp_extract_all({redact_sql(column)}, '\\[({labels})\\]', 1), "
        f"x -> map_extract(map {{{mapping}}}, x)[1])"
    )


# --------------------------------------------------------------------------- python

_FLAGS = re.ASCII
_COMPILED = {
    key: re.compile(p.regex, _FLAGS)
    for key, p in (
        ("email", EMAIL),
        ("phone", PHONE),
        ("street_address", STREET_ADDRESS),
        ("url_secret", URL_SECRET),
        ("obfuscated_email", OBFUSCATED_EMAIL),
        ("social_handle", HANDLE),
        ("ipv6", IPV6),
        ("local_phone", LOCAL_PHONE),
    )
}
_CHECKED_RE = re.compile(CHECKED_REGEX, _FLAGS)
_CHECKED_GUARD_RE = re.compile(CHECKED_GUARD_REGEX, _FLAGS)
_URL_GUARD_RE = re.compile(URL_GUARD_REGEX, _FLAGS)
_CARD_TAIL_RE = re.compile(identifiers.CARD_TAIL_REGEX, _FLAGS)
_PREFILTER_RE = re.compile(PREFILTER_REGEX, _FLAGS)
_CARD_HEAD_RE = re.compile(CARD_HEAD_REGEX, _FLAGS)


def classify_candidate(candidate: str) -> tuple[PiiPattern, str] | None:
    """Python twin of the ``pii_classify`` macro: ``(pattern, redacted part)`` or None."""
    if "." in candidate and ipv4_ok(candidate):
        return IPV4, candidate
    digits = _digits(candidate).replace("/", "")
    for pattern, ok in ((TFN, tfn_ok), (ACN, stdnum_acn.is_valid), (ABN, stdnum_abn.is_valid), (MEDICARE, medicare_ok)):
        if len(digits) in (9, 10, 11) and ok(digits):
            return pattern, candidate
    if 13 <= len(digits) <= 19 and luhn_ok(digits):
        return CARD, candidate
    head = _CARD_HEAD_RE.match(candidate)
    if head and 13 <= len(_digits(head.group(1))) <= 19 and luhn_ok(_digits(head.group(1))):
        return CARD, head.group(1)
    return None


def _sub(pattern: PiiPattern, key: str, found: list[tuple[str, str]] | None) -> Callable[[str], str]:
    regex = _COMPILED[key]

    def one(m: re.Match[str]) -> str:
        whole = pattern.name == "email" or m.lastindex is None or pattern is URL_SECRET
        if found is not None:
            found.append((pattern.name, m.group(0) if whole else m.group(2)))
        return pattern.placeholder if whole else m.group(1) + pattern.placeholder

    return lambda text: regex.sub(one, text)


def _checked(found: list[tuple[str, str]] | None) -> Callable[[re.Match[str]], str]:
    def sub(m: re.Match[str]) -> str:
        lead, prefix, candidate = m.group(1, 2, 3) if m.group(3) is not None else m.group(4, 5, 6)
        keep = prefix and ("." in candidate or len(_digits(candidate).replace("/", "")) < 13)
        hit = None if keep else classify_candidate(candidate)
        if hit is None:
            return lead + prefix + candidate
        pattern, value = hit
        if found is not None:
            found.append((pattern.name, value))
        return lead + prefix + pattern.placeholder + candidate[len(value) :]

    return sub


def _scan(text: str, found: list[tuple[str, str]] | None, with_names: bool = True) -> str:
    """Python twin of :func:`redact_sql`, step by step in the same order."""
    if _PREFILTER_RE.search(text):
        raw = text
        if _URL_GUARD_RE.search(raw):
            text = _sub(URL_SECRET, "url_secret", found)(text)
        if identifiers.guard(raw):
            text = identifiers.apply_python(text, found)
        for pattern, key in (
            (EMAIL, "email"),
            (OBFUSCATED_EMAIL, "obfuscated_email"),
            (HANDLE, "social_handle"),
            (PHONE, "phone"),
        ):
            text = _sub(pattern, key, found)(text)
        if _CHECKED_GUARD_RE.search(raw):
            text = _CHECKED_RE.sub(_checked(found), text.replace(SEP, "").replace(PREFIX_SEP, ""))
        text = _sub(LOCAL_PHONE, "local_phone", found)(text)
        text = identifiers.apply_python(text, found, identifiers.LATE_RULES)
        text = _CARD_TAIL_RE.sub(
            lambda m: m.group(1) + "[CARD_EXPIRY]" + (m.group(3) or "") + ("[CVV]" if m.group(4) else ""), text
        )
        text = _sub(IPV6, "ipv6", found)(text)
        text = _sub(STREET_ADDRESS, "street_address", found)(text)
    return names.redact_python(text) if with_names else text


def redact_python(text: str | None) -> str | None:
    """Pure-Python reference of :func:`redact_sql` (same patterns, same order)."""
    return None if text is None else _scan(text, None)


def redact_identifiers_python(text: str) -> str:
    """:func:`redact_python` without the name passes: the identifiers only, for short texts of our
    own (status lines) that cannot wait for the name passes' regexes to compile (seconds in ``re``)."""
    return _scan(text, None, with_names=False)


def find_pii(text: str) -> list[tuple[str, str]]:
    """``(type name, value)`` for every PII value found, in order of detection."""
    found: list[tuple[str, str]] = []
    _scan(text, found)
    return found


# --------------------------------------------------------------------------- layered query

#: Columns the layered query adds (and drops again): the text being redacted and raw-text flags.
_T = "__pii_text"
_FLAGS_SQL = ("__pii_pre", "__pii_url", "__pii_ids", "__pii_chk")
#: Rows where an obfuscated e-mail can be: '@' or an 'at' in brackets or spaces.
OBFUSCATED_GUARD_REGEX = r"@|(?i:[\[({]at[\])}]| at )"


def _condition(regex: str, text: str) -> str:
    """SQL that is true where ``text`` matches ``regex`` (``contains`` for a plain literal)."""
    if re.fullmatch(r"(?:\\[^A-Za-z0-9]|[^.^$*+?{}\[\]|()\\])+", regex):
        literal = re.sub(r"\\(.)", lambda m: m.group(1), regex)
        return f"contains({text}, {sql_literal(literal)})"
    return f"regexp_matches({text}, {sql_literal(regex)})"


#: Marks the checked-number step in :func:`_layered_steps`: it takes several projections.
_CHECKED_LAYERS: Callable[[str], str] = _checked_sql
_CHECKED_COLUMNS = ("__pii_pieces", "__pii_p", "__pii_c", "__pii_d", "__pii_r")


def _checked_query(query: str, cond: str) -> str:
    """The checked-number step over ``query``'s text column, where ``cond`` holds.

    A row with one candidate (most) is classified from columns, one projection per value, without
    the list lambdas of :func:`_checked_join` (which the rows with more candidates still take)."""
    one = "len(__pii_pieces) = 3"
    layers = (
        f"case when {cond} then {_checked_pieces(_T)} end as __pii_pieces",
        f"case when {one} then split_part(__pii_pieces[2], {sql_literal(PREFIX_SEP)}, 1) end as __pii_p, "
        f"case when {one} then split_part(__pii_pieces[2], {sql_literal(PREFIX_SEP)}, 2) end as __pii_c",
        "regexp_replace(__pii_c, '[ ./-]', '', 'g') as __pii_d",
        f"{_REVERSED.format(d='__pii_d')} as __pii_r",
    )
    for layer in layers:
        query = f"select *, {layer} from ({query})"
    classified = _CLASSIFY.format(p="__pii_p", c="__pii_c", d="__pii_d", r="__pii_r")
    text = (
        f"case when {one} then __pii_pieces[1] || ({classified}) || __pii_pieces[3] "
        f"when __pii_pieces is not null then {_checked_join('__pii_pieces')} else {_T} end"
    )
    return f"select * exclude ({', '.join(_CHECKED_COLUMNS)}) replace ({text} as {_T}) from ({query})"


def _layered_steps(t: str) -> list[tuple[str | None, Callable[[str], str]]]:
    """The steps of :func:`redact_sql` in order, each with the condition under which it runs.

    Conditions on the raw text (``__pii_*`` flags) are part of the result, exactly as the
    guards of :func:`redact_sql`; conditions on the current text ``t`` only skip rows where the
    step cannot change anything (its trigger cannot match), so the result is the same."""
    lit = sql_literal

    def regex_step(regex: str, repl: str) -> Callable[[str], str]:
        if regex == names.PROTECT:
            return lambda x: f"replace({x}, {lit(regex)}, '')"
        if regex == names.RUN_MARK:
            return lambda x: f"{names.LOOKUP_FUNCTION}({x})"
        return lambda x: f"regexp_replace({x}, {lit(regex)}, {lit(repl)}, 'g')"

    def replace_step(pattern: PiiPattern) -> Callable[[str], str]:
        return lambda x: _replace_sql(x, pattern)

    late_trigger = identifiers.trigger_regex(identifiers.LATE_RULES)
    checked_trigger = f"{CHECKED_REGEX}|[{SEP}{PREFIX_SEP}]"
    tail = sql_literal(identifiers.CARD_TAIL_REGEX)
    steps: list[tuple[str | None, Callable[[str], str]]] = [
        ("__pii_url", replace_step(URL_SECRET)),
        ("__pii_ids", lambda x: identifiers.apply_sql(x, lit)),
        (f"__pii_pre and {_condition('@', t)}", replace_step(EMAIL)),
        (f"__pii_pre and {_condition(OBFUSCATED_GUARD_REGEX, t)}", replace_step(OBFUSCATED_EMAIL)),
        (f"__pii_pre and {_condition('@', t)}", replace_step(HANDLE)),
        ("__pii_pre", replace_step(PHONE)),
        (f"__pii_chk and {_condition(checked_trigger, t)}", _CHECKED_LAYERS),
        (f"__pii_pre and {_condition('13 ', t)}", replace_step(LOCAL_PHONE)),
        (
            f"__pii_pre and {_condition(late_trigger, t)}",
            lambda x: identifiers.apply_sql(x, lit, identifiers.LATE_RULES),
        ),
        (
            f"__pii_pre and {_condition(re.escape('[CARD]'), t)}",
            lambda x: f"regexp_replace({x}, {tail}, '\\1[CARD_EXPIRY]\\3[CVV]', 'g')",
        ),
        (f"__pii_pre and {_condition(':', t)}", replace_step(IPV6)),
        ("__pii_pre", replace_step(STREET_ADDRESS)),
        (
            _condition(f"[{names.SEP}{names.PROTECT}{names.RUN_MARK}]", t),
            lambda x: (
                f"replace(replace(replace({x}, {lit(names.SEP)}, ''), {lit(names.PROTECT)}, ''), "
                f"{lit(names.RUN_MARK)}, '')"
            ),
        ),
    ]
    for guard, group in names.layer_groups():
        cond = None if guard is None else _condition(guard, t)
        steps += [(cond, regex_step(regex, repl)) for regex, repl in group]
    return steps


def redact_query(source: str, columns: Sequence[str]) -> str:
    """A SELECT over ``source`` (a table name or a parenthesised query) with the same columns,
    each of ``columns`` redacted: the same result as :func:`redact_sql` on every row.

    Why a query and not one expression: each step runs in its own projection over a column of the
    text so far, so a step can be skipped on rows where it cannot match (``case when`` on a column
    costs nothing; on the nested expression it would repeat the whole chain in the SQL text).
    Needs :func:`install_macros`."""
    query = f"select * from {source}"
    for column in columns:
        raw = f'"{column}"'
        query = (
            f"select *, {raw} as {_T}, regexp_matches({raw}, {sql_literal(PREFILTER_REGEX)}) as __pii_pre "
            f"from ({query})"
        )
        query = (
            f"select *, __pii_pre and regexp_matches({raw}, {sql_literal(URL_GUARD_REGEX)}) as __pii_url, "
            f"__pii_pre and regexp_matches({raw}, {sql_literal(identifiers.GUARD_REGEX)}) as __pii_ids, "
            f"__pii_pre and regexp_matches({raw}, {sql_literal(CHECKED_GUARD_REGEX)}) as __pii_chk "
            f"from ({query})"
        )
        pending: list[Callable[[str], str]] = []
        pending_cond: str | None = None

        def flush(query: str, cond: str | None, fns: list[Callable[[str], str]]) -> str:
            expr = _T
            for fn in fns:
                expr = fn(expr)
            if cond is not None:
                expr = f"case when {cond} then {expr} else {_T} end"
            return f"select * replace ({expr} as {_T}) from ({query})"

        for cond, fn in _layered_steps(_T):
            if pending and (cond != pending_cond or fn is _CHECKED_LAYERS):
                query = flush(query, pending_cond, pending)
                pending = []
            if fn is _CHECKED_LAYERS:
                query = _checked_query(query, cond)
                continue
            pending_cond = cond
            pending.append(fn)
        query = flush(query, pending_cond, pending)
        query = f"select * replace ({_T} as {raw}) from ({query})"
        query = f"select * exclude ({_T}, {', '.join(_FLAGS_SQL)}) from ({query})"
    return query


# --------------------------------------------------------------------------- a few texts

#: Up to this many texts, and this much text in all, are redacted by the Python twin
#: (:func:`redact_python`: the same patterns in the same order, tested equal to the SQL on every
#: case and on the independent set) instead of the layered query: ~1 ms a text, where DuckDB
#: compiles the query's regexes when it binds the statement, ~0.3 s whatever its rows. A
#: watcher's small batch and a batch's few quarantined rows skip that compile.
PYTHON_MAX_TEXTS = 256
#: ... and only while they are short: Python's ``re`` is not linear-time like RE2 (a 2 MB
#: malformed record through the name passes took minutes).
PYTHON_MAX_CHARS = 64 * 1024


def redact_into(con: duckdb.DuckDBPyConnection, into: str, source: str, columns: Sequence[str]) -> None:
    """Temp table ``into``: the rows and columns of ``source`` (a table or a parenthesised query)
    with each of ``columns`` redacted, as :func:`redact_query` gives them; a few short texts go
    through the Python twin (:data:`PYTHON_MAX_TEXTS`). Needs :func:`install_macros`."""
    if not columns:
        con.execute(f"create or replace temp table {into} as select * from {source}")
        return
    chars = " + ".join(f'coalesce(sum(length("{c}")), 0)' for c in columns)
    rows, total = con.execute(f"select count(*), {chars} from {source}").fetchone()
    if rows * len(columns) > PYTHON_MAX_TEXTS or total > PYTHON_MAX_CHARS:
        con.execute(f"create or replace temp table {into} as {redact_query(source, columns)}")
        return
    if not con.execute("select 1 from duckdb_functions() where function_name = 'pii_redact_python'").fetchall():
        udf.register_text_function(con, "pii_redact_python", redact_python)
    redacted = ", ".join(f'pii_redact_python("{c}") as "{c}"' for c in columns)
    con.execute(f"create or replace temp table {into} as select * replace ({redacted}) from {source}")
