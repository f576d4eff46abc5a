"""Deterministic synthetic exports (categories.csv, chats.csv) with optional, counted defects.

Why it is built this way:

* Every pseudo-random value is a pure function of ``(row index, seed, purpose)`` —
  DuckDB 1.0's ``hash()`` in SQL (spelled out by :func:`_hash_sql`, so the bytes do not
  change with the DuckDB version), ``numpy.random.default_rng(seed)`` for the small
  categories file — so output is byte-identical per seed whatever the thread schedule.
* chats.csv is written by one DuckDB ``COPY`` of a single, already CSV-encoded text
  column (delimiter a control character that never occurs, quoting off: ``quote ''``;
  DuckDB 1.4 quotes any value holding ``#`` otherwise), so we do the CSV quoting
  ourselves and can emit deliberately malformed lines (wrong field count) that never
  contain unbalanced quotes. Invalid UTF-8 cannot exist in a DuckDB
  string, so those lines carry a same-length placeholder ("ÿ") that is overwritten
  in place (mmap) with ``\\xff\\xfe``; the rest of the file is pure ASCII.
* Defective chat rows: the rows are cut into ``k = round(rate * n)`` equal strata and
  one pseudo-random row of each is defective, so the count is exact, positions are
  irregular and "is row j defective?" is O(1) (needed to pick a valid row to duplicate).
  Each run of ``len(codes)`` strata uses every code once in a shuffled order, so codes
  are spread evenly (±1). The manifest counts are nevertheless read back from the same SQL relation
  that produced the file, so they cannot drift.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import mmap
import os
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import duckdb
import numpy as np
import structlog

log = structlog.get_logger()

GENERATOR_VERSION = 1

CATEGORY_REASON_CODES: tuple[str, ...] = (
    "malformed_row",
    "missing_id",
    "invalid_id",
    "duplicate_id_in_file",
    "invalid_boolean",
    "invalid_category_id",
    "self_parent",
)
CHAT_REASON_CODES: tuple[str, ...] = (
    "malformed_row",
    "missing_id",
    "invalid_id",
    "duplicate_id_in_file",
    "missing_created_at",
    "invalid_timestamp",
    "resolved_before_created",
    "invalid_boolean",
    "invalid_category_id",
)
CATEGORIES_HEADER = "id,parent_id,disabled"
CHATS_HEADER = "id,chat_category_id,created_at,is_customer_initiated,resolved_at"

#: Placeholder swapped in place for invalid UTF-8 after COPY: "ÿ" is b"\xc3\xbf", as long as b"\xff\xfe".
_BAD_UTF8_MARK = "\u00ff"
_BAD_UTF8_BYTES = b"\xff\xfe"

_YEAR = 2023
_SHARES = {  # target shares of the quirks, used by generator and tests
    "chat_without_category": 0.013,
    "chat_initiator_empty": 0.25,
    "chat_customer_initiated": 0.70,  # among non-empty
    "chat_unresolved": 0.075,
    "chat_iso_z": 0.01,
    "chat_iso_offset": 0.01,
    "chat_pii": 0.20,
    "category_roots": 0.295,
    "category_disabled_true": 0.10,
}

# --------------------------------------------------------------------------- helpers


def uuid_from(seed: int, kind: str, i: int) -> str:
    """v4-looking lowercase UUID from md5('<seed>:<kind>:<i>'); mirrored by :func:`_uuid_sql`."""
    h = hashlib.md5(f"{seed}:{kind}:{i}".encode()).hexdigest()
    variant = "89ab"[int(h[16], 16) % 4]
    return f"{h[0:8]}-{h[8:12]}-4{h[13:16]}-{variant}{h[17:20]}-{h[20:32]}"


def _uuid_sql(seed: int, kind: str, idx: str) -> str:
    h = f"md5('{seed}:{kind}:' || {idx}::varchar)"
    return (
        f"(substr({h}, 1, 8) || '-' || substr({h}, 9, 4) || '-4' || substr({h}, 14, 3) || '-' || "
        f"substr('89ab89ab89ab89ab', instr('0123456789abcdef', substr({h}, 17, 1)), 1) || "
        f"substr({h}, 18, 3) || '-' || substr({h}, 21, 12))"
    )


def luhn_ok(number: str) -> bool:
    digits = [int(c) for c in number if c.isdigit()]
    total = 0
    for pos, d in enumerate(reversed(digits)):
        if pos % 2 == 1:
            d = d * 2 - 9 if d * 2 > 9 else d * 2
        total += d
    return total % 10 == 0


def _sql_list(values: list) -> str:
    def lit(v: object) -> str:
        return "'" + v.replace("'", "''") + "'" if isinstance(v, str) else str(v)

    return "[" + ", ".join(lit(v) for v in values) + "]"


def _pick(values: list[str], hexpr: str) -> str:
    """SQL choosing one of ``values`` by a UBIGINT hash expression."""
    return f"{_sql_list(values)}[({hexpr} % {len(values)})::int + 1]"


_U64 = (1 << 64) - 1
_COMBINE = 0xBF58476D1CE4E5B9  # DuckDB 1.0's CombineHash multiplier


def _murmur64(x: int) -> int:
    """DuckDB's hash of an integer (unchanged since 1.0): the MurmurHash3 64-bit finaliser."""
    x &= _U64
    for _ in range(2):
        x ^= x >> 32
        x = (x * 0xD6E8FEB86659FD93) & _U64
    return x ^ (x >> 32)


def _murmur64a(data: bytes, seed: int = 0xE17A1465) -> int:
    """DuckDB 1.0's hash of a string (MurmurHash64A); 1.1 replaced it."""
    m, r = 0xC6A4A7935BD1E995, 47
    h = (seed ^ (len(data) * m)) & _U64
    whole = len(data) // 8 * 8
    for pos in range(0, whole, 8):
        k = (int.from_bytes(data[pos : pos + 8], "little") * m) & _U64
        k = ((k ^ (k >> r)) * m) & _U64
        h = ((h ^ k) * m) & _U64
    if tail := data[whole:]:
        h = ((h ^ int.from_bytes(tail, "little")) * m) & _U64
    h = ((h ^ (h >> r)) * m) & _U64
    return h ^ (h >> r)


def _hash_sql(expr: str, seed: int, purpose: str) -> str:
    """SQL equal to DuckDB 1.0's ``hash(expr, seed, 'purpose')`` on any DuckDB version.

    DuckDB 1.1 changed how ``hash()`` combines its arguments and hashes strings, which changed
    every generated file for a given seed. Only the hash of an integer stayed the same, so the
    rest is spelled out: ``combine(a, b) = (a * C mod 2^64) xor b``, with the seed's and the
    purpose's hashes computed here (UHUGEINT, because UBIGINT multiplication raises on overflow).
    """

    def combine(left: str, right: int) -> str:
        return f"xor(((({left})::uhugeint * {_COMBINE}) & {_U64})::ubigint, {right}::ubigint)"

    return combine(combine(f"hash({expr})", _murmur64(seed)), _murmur64a(purpose.encode()))


def _sql_path(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


# --------------------------------------------------------------------------- categories


def _level_sizes(n: int) -> list[int]:
    roots = max(1, round(n * _SHARES["category_roots"])) if n else 0
    rest = n - roots
    l2, l3 = round(rest * 0.45), round(rest * 0.33)
    return [roots, l2, l3, rest - l2 - l3]


def _write_categories(path: Path, n: int, seed: int, defect_rate: float) -> tuple[dict, list[str]]:
    """Write categories.csv; return (file manifest incl. stats, valid category ids).

    (Long: one vectorised pass that draws the tree, its defects and their counts together.)
    """
    rng = np.random.default_rng([seed, 1])
    sizes = _level_sizes(n)
    level = np.repeat(np.arange(1, 5), sizes)
    ids = [uuid_from(seed, "category", i) for i in range(n)]

    k = min(n - 1, round(defect_rate * n)) if n > 1 else 0
    positions = rng.choice(np.arange(1, n), size=k, replace=False) if k else np.array([], int)
    code_of = {int(p): CATEGORY_REASON_CODES[j % len(CATEGORY_REASON_CODES)] for j, p in enumerate(positions)}
    valid = [i not in code_of for i in range(n)]

    roots = [i for i in range(n) if level[i] == 1]
    n_null = max(1, round(0.05 * len(roots))) if roots else 0
    null_rows = set(
        rng.choice([r for r in roots if valid[r]] or roots, size=min(n_null, len(roots)), replace=False).tolist()
    )
    valid_idx = [i for i in range(n) if valid[i]]
    n_empty = min(9, max(1 if n >= 50 else 0, round(0.01 * n)))
    empty_disabled = set(rng.choice(valid_idx, size=min(n_empty, len(valid_idx)), replace=False).tolist())

    # parents come from the previous level and are never defective rows themselves
    parents = {
        lv: [j for j in range(n) if level[j] == lv and valid[j]] or [j for j in range(n) if level[j] == lv]
        for lv in range(1, 4)
    }
    lines = [CATEGORIES_HEADER.encode()]
    defects = dict.fromkeys(CATEGORY_REASON_CODES, 0)
    stats = {"categories_roots": 0, "categories_disabled_empty": 0, "categories_null_literal": 0}
    seen_valid: list[int] = []
    for i in range(n):
        lv = int(level[i])
        if lv == 1:
            parent = ""
            if i in null_rows:
                parent = ["null", "null", "NULL", "Null"][int(rng.integers(4))]
        else:
            pool = parents[lv - 1]
            parent = ids[pool[int(rng.integers(len(pool)))]]
        is_true = rng.random() < _SHARES["category_disabled_true"]
        if rng.random() < 0.1:
            disabled = str(rng.choice(["t", "1", "yes", "TRUE"] if is_true else ["f", "0", "no", "FALSE"]))
        else:
            disabled = "true" if is_true else "false"
        if i in empty_disabled:
            disabled = ""
        row_id = ids[i]
        code = code_of.get(i)
        extra = b""
        if code == "missing_id":
            row_id = ""
        elif code == "invalid_id":
            row_id = ["not-a-uuid", f"{12345 + i}", "g" + ids[i][1:]][i % 3]
        elif code == "duplicate_id_in_file":
            row_id = ids[seen_valid[int(rng.integers(len(seen_valid)))]]
        elif code == "invalid_boolean":
            disabled = ["maybe", "2", "yess"][i % 3]
        elif code == "invalid_category_id":
            parent = f"cat-{i}"
        elif code == "self_parent":
            parent = row_id
        if code is not None:
            defects[code] += 1
        else:
            seen_valid.append(i)
            stats["categories_roots"] += lv == 1
            stats["categories_disabled_empty"] += disabled == ""
            stats["categories_null_literal"] += parent.lower() == "null"
        line = f"{row_id},{parent},{disabled}"
        if code == "malformed_row":
            variant = defects["malformed_row"] % 3  # round-robin so every form appears
            if variant == 0:
                line = f"{row_id},{parent}"
            elif variant == 1:
                line = f"{row_id},{parent},{disabled or 'false'},extra"
            else:
                line, extra = f"{row_id},{parent},{disabled or 'false'}", _BAD_UTF8_BYTES
        lines.append(line.encode() + extra)
    _atomic_write_bytes(path, b"\n".join(lines) + b"\n")
    manifest = {"file": path.name, "rows": n, "valid_rows": n - sum(defects.values()), "defects": defects}
    return {**manifest, "_stats": stats}, [ids[i] for i in range(n) if valid[i]]


# --------------------------------------------------------------------------- chats


def _time_lookups(seed: int) -> tuple[list[int], list[int], list[int], list[int]]:
    """Return (day lookup, UTC ms of each local Melbourne midnight, weekend flag, hour lookup).

    (Long: the hour profiles are data, written out.)

    Local days 2023-01-02..2023-12-31, weekends at 45 % weight; hour profiles peak in
    Melbourne business hours (UTC+11 in summer, +10 in winter).
    """
    days = [date(_YEAR, 1, 2) + timedelta(d) for d in range(364)]
    weekend = [int(d.weekday() >= 5) for d in days]
    weights = np.array([0.45 if w else 1.0 for w in weekend])
    cum = np.cumsum(weights) / weights.sum()
    day_lookup = np.searchsorted(cum, (np.arange(10_000) + 0.5) / 10_000).tolist()
    base_ms = []
    for d in days:
        offset = 10 if 4 <= d.month <= 9 else 11
        local_midnight = datetime(d.year, d.month, d.day, tzinfo=timezone.utc) - timedelta(hours=offset)
        base_ms.append(int(local_midnight.timestamp() * 1000))
    weekday_hours = [
        0.05,
        0.02,
        0.02,
        0.02,
        0.03,
        0.05,
        0.12,
        0.35,
        0.7,
        1,
        1,
        1,
        0.9,
        0.9,
        1,
        1,
        0.9,
        0.6,
        0.45,
        0.4,
        0.35,
        0.3,
        0.2,
        0.1,
    ]
    weekend_hours = [
        0.05,
        0.03,
        0.02,
        0.02,
        0.02,
        0.03,
        0.06,
        0.15,
        0.3,
        0.5,
        0.6,
        0.6,
        0.6,
        0.6,
        0.55,
        0.5,
        0.45,
        0.4,
        0.4,
        0.35,
        0.3,
        0.25,
        0.15,
        0.1,
    ]
    hour_lookup: list[int] = []
    for prof in (weekday_hours, weekend_hours):
        c = np.cumsum(prof) / np.sum(prof)
        hour_lookup += np.searchsorted(c, (np.arange(1000) + 0.5) / 1000).tolist()
    return day_lookup, base_ms, weekend, hour_lookup


_GREETINGS = ["Hi, ", "Hello, ", "Hey there, ", "Good morning, ", "Hi team, ", "", "Hello. ", "Hi there! "]
_ISSUES = [
    "my order {order} hasn't arrived yet.",
    "I was charged {price} twice for the same order.",
    "the app keeps crashing when I open my account page.",
    "can you help me reset my password?",
    "the driver said they would arrive at {time} but nobody came.",
    "my tracking number {fake} doesn't work on your website.",
    'I got an error saying "payment declined" at checkout.',
    "I want to cancel my subscription, it renews on the 14th.",
    "the refund of {price} still hasn't shown up.",
    "order {order} arrived damaged, can I get a replacement?",
    "the reference number {fake} was in the email, what does it mean?",
    "I'd like to change the delivery window to {time} tomorrow.",
    "the promo code didn't apply and I paid {price} instead of the sale price.",
    "where can I download my invoice for order {order}?",
]
_PII_SENTENCES = {
    "email": [
        "You can email me at {v} if that's easier.",
        "My email is {v}, please update it.",
        "Please send the invoice to {v} thanks.",
    ],
    "phone": [
        "Please call me on {v} after {time}.",
        "My number is {v} if you need it.",
        "You can reach me on {v}, any time today.",
    ],
    "card": [
        "I paid with card {v} and got charged twice.",
        "My card number is {v}, please check the payment.",
        "The charge on {v} looks wrong.",
    ],
}
_CLOSINGS = ["", " Thanks!", " Thank you.", " Cheers", " Thanks in advance, appreciate it.", " Regards, Sam"]
_FIRST = [
    "jane",
    "john",
    "olivia",
    "liam",
    "charlotte",
    "noah",
    "amelia",
    "jack",
    "isla",
    "william",
    "mia",
    "oliver",
    "ava",
    "thomas",
    "grace",
    "lucas",
    "chloe",
    "henry",
    "zoe",
    "james",
    "ruby",
    "leo",
]
_LAST = [
    "smith",
    "jones",
    "williams",
    "brown",
    "wilson",
    "taylor",
    "nguyen",
    "johnson",
    "martin",
    "white",
    "anderson",
    "walker",
    "thompson",
    "harris",
    "lee",
    "ryan",
    "robinson",
    "kelly",
    "king",
    "tran",
]
_DOMAINS = [
    "gmail.com",
    "outlook.com",
    "bigpond.com",
    "yahoo.com.au",
    "icloud.com",
    "hotmail.com",
    "optusnet.com.au",
    "example.com.au",
]
_TYPES = ["email", "phone", "card"]


def _luhn_check_sql(p: str) -> str:
    """SQL check digit for an 18-character, zero left-padded payload column ``p``.

    Leading zeros do not change a Luhn sum, so one expression serves every card length.
    """
    terms = []
    for k in range(1, 19):
        d = f"(ascii(substr({p}, {k}, 1)) - 48)"
        terms.append(f"[0, 2, 4, 6, 8, 1, 3, 5, 7, 9][{d} + 1]" if (18 - k) % 2 == 0 else d)
    return f"((10 - ({' + '.join(terms)}) % 10) % 10)"


def _pii_value_sql(seed: int, slot: int) -> str:
    """SQL CASE producing the PII value of ``ptype{slot}`` for the row (NULL when none)."""

    def h(p: str) -> str:
        return _hash_sql("i", seed, f"{p}{slot}")

    email = (
        f"{_pick(_FIRST, h('ef'))} || {_pick(['.', '_', ''], h('es'))} || {_pick(_LAST, h('el'))} || "
        f"case when {h('ed')} % 2 = 0 then ({h('ed')} % 97)::varchar else '' end || '@' || {_pick(_DOMAINS, h('em'))}"
    )
    nat = f"('04' || lpad(({h('pm')} % 100000000)::varchar, 8, '0'))"
    area = _pick(["02", "03", "07", "08"], h("pa"))
    loc = f"({_pick(['9', '8', '5', '4'], h('pl'))} || lpad(({h('pn')} % 10000000)::varchar, 7, '0'))"
    phone = f"""case {h("pf")} % 8
        when 0 then substr({nat}, 1, 4) || ' ' || substr({nat}, 5, 3) || ' ' || substr({nat}, 8, 3)
        when 1 then {nat}
        when 2 then '+61 ' || substr({nat}, 2, 3) || ' ' || substr({nat}, 5, 3) || ' ' || substr({nat}, 8, 3)
        when 3 then '+61' || substr({nat}, 2)
        when 4 then '(' || {area} || ') ' || substr({loc}, 1, 4) || ' ' || substr({loc}, 5, 4)
        when 5 then {area} || ' ' || substr({loc}, 1, 4) || ' ' || substr({loc}, 5, 4)
        when 6 then {area} || '-' || substr({loc}, 1, 4) || '-' || substr({loc}, 5, 4)
        else substr({nat}, 1, 4) || '.' || substr({nat}, 5, 3) || '.' || substr({nat}, 8, 3) end"""
    return f"""case ptype{slot}
        when 'email' then {email}
        when 'phone' then {phone}
        when 'card' then card{slot} end"""


def _card_ctes(seed: int, src: str, slots: dict[str, tuple[str, bool]]) -> str:
    """Three CTEs over ``src`` adding one formatted card number column per slot.

    ``slots`` maps column name -> (SQL guard, Luhn-valid?). Invalid ones are 16 digits
    with a wrong check digit (look-alikes for measuring redaction precision).
    """

    def h(p: str) -> str:
        return _hash_sql("i", seed, p)

    a_cols, b_cols, c_cols = [], [], []
    for name, (guard, valid) in slots.items():
        length = (
            f"case {h(name + 'l')} % 100 when 0 then 13 when 1 then 13 when 2 then 15 when 3 then 15 when 4 then 15 when 5 then 19 when 6 then 19 when 7 then 19 else 16 end"
            if valid
            else "16"
        )
        prefix = f"case {name}_len when 15 then '37' when 16 then {_pick(['4', '5'], h(name + 'p'))} else '4' end"
        digits = f"lpad(({h(name + 'd')} % 100000000000000000)::varchar, 17, '0')"
        a_cols.append(f"case when {guard} then {length} end as {name}_len, ({h(name + 's')} % 4)::int as {name}_sep")
        b_cols.append(
            f"case when {name}_len is not null then lpad(substr({prefix} || {digits}, 1, {name}_len - 1), 18, '0') end as {name}_p"
        )
        check = _luhn_check_sql(f"{name}_p")
        if not valid:
            check = f"(({check} + 1 + {h(name + 'x')} % 9) % 10)"
        c_cols.append(
            f"case when {name}_p is not null then right({name}_p, {name}_len - 1) || {check}::varchar end as {name}_raw"
        )
    fmt = []
    for name in slots:
        r, sep = f"{name}_raw", f"{_sql_list([' ', '-', '', ' '])}[{name}_sep + 1]"
        fmt.append(f"""case {name}_len
            when 16 then substr({r}, 1, 4) || {sep} || substr({r}, 5, 4) || {sep} || substr({r}, 9, 4) || {sep} || substr({r}, 13, 4)
            when 15 then case when {name}_sep = 0 then substr({r}, 1, 4) || ' ' || substr({r}, 5, 6) || ' ' || substr({r}, 11, 5) else {r} end
            else {r} end as {name}""")
    return f""",
    ca as (select *, {", ".join(a_cols)} from {src}),
    cb as (select *, {", ".join(b_cols)} from ca),
    cc as (select *, {", ".join(c_cols)} from cb),
    cards as (select *, {", ".join(fmt)} from cc)"""


def _csv_field_sql(expr: str) -> str:
    return (
        f"(case when contains({expr}, ',') or contains({expr}, '\"') "
        f"then '\"' || replace({expr}, '\"', '\"\"') || '\"' else {expr} end)"
    )


def _message_ctes(seed: int) -> str:
    """CTEs m1..m4 over ``t`` adding ``message`` and the PII columns ptype1/pii1/ptype2/pii2.

    (Long: one SQL statement in named layers.)
    """

    def h(p: str) -> str:
        return _hash_sql("i", seed, p)

    def u(p: str) -> str:
        return f"({h(p)} % 1000000 / 1000000.0)"

    types = _sql_list(_TYPES)
    fake_issues = _sql_list([j for j, s in enumerate(_ISSUES) if "{fake}" in s])
    # split each issue template around its (at most one) placeholder: concatenation beats replace()
    pre, kind, post = [], [], []
    for text in _ISSUES:
        head, _, rest = text.partition("{")
        name, _, tail = rest.partition("}")
        pre.append(head)
        kind.append(name)
        post.append(tail)
    return f""",
    m1 as (
        select *,
            case when {_has_pii_sql(seed)} then {_pick(_TYPES + ["email", "phone"], h("pt1"))} end as ptype1,
            {h("is")} % {len(_ISSUES)} as iss,
            '#' || (10000000 + {h("ord")} % 90000000)::varchar as order_no,
            '$' || ({h("pr")} % 500 + 5)::varchar || '.' || {_pick(["00", "95", "50", "99", "49"], h("pc"))} as price,
            (({h("tm")} % 12) + 1)::varchar || ':' || {_pick(["00", "15", "30", "45"], h("tq"))}
                || {_pick(["am", "pm", ""], h("tp"))} as time_txt
        from t
    ),
    m2 as (
        select *,
            case when ptype1 is not null and {u("pii2")} < 0.25
                 then {types}[((list_position({types}, ptype1) + {h("pt2")} % 2) % 3)::int + 1] end as ptype2
        from m1
    ){
        _card_ctes(
            seed,
            "m2",
            {
                "card1": ("ptype1 = 'card'", True),
                "card2": ("ptype2 = 'card'", True),
                "fake": (f"list_contains({fake_issues}, iss)", False),
            },
        )
    },
    m3 as (select * from cards),
    m4 as (
        select *, {_pii_value_sql(seed, 1)} as pii1, {_pii_value_sql(seed, 2)} as pii2 from m3
    ),
    m5 as (
        select *,
            {_sql_list(pre)}[iss::int + 1]
                || case {_sql_list(kind)}[iss::int + 1] when 'order' then order_no when 'price' then price
                        when 'time' then time_txt when 'fake' then fake else '' end
                || {_sql_list(post)}[iss::int + 1] as issue,
            case ptype1 {
        " ".join(f"when '{t}' then {_pick(s, h('s1'))}" for t, s in _PII_SENTENCES.items())
    } end as sent1,
            case ptype2 {
        " ".join(f"when '{t}' then {_pick(s, h('s2'))}" for t, s in _PII_SENTENCES.items())
    } end as sent2
        from m4
    ),
    msg as (
        select *,
            {_pick(_GREETINGS, h("gr"))}
            || case when ptype1 is null then issue
                    else replace(replace(sent1, '{{v}}', pii1), '{{time}}', time_txt)
                         || coalesce(' ' || replace(replace(sent2, '{{v}}', pii2), '{{time}}', time_txt), '')
                         || case when {h("pi")} % 2 = 0 then ' Also, ' || issue else '' end end
            || {_pick(_CLOSINGS, h("cl"))} as message
        from m5
    )"""


def _has_pii_sql(seed: int) -> str:
    return f"({_hash_sql('i', seed, 'pii')} % 1000000 / 1000000.0) < {_SHARES['chat_pii']}"


def _chats_sql(
    n: int,
    seed: int,
    defect_rate: float,
    messages: bool,
    category_ids: list[str],
    src: str = "idx",
    category_skew: float = 0.0,
) -> str:
    """One relation over table ``idx(i)``: the CSV line of every chat plus the columns the manifest counts.

    (Long: one SQL statement; each defect is a named layer of it.) ``category_skew``: that share
    of the chats (pseudo-randomly chosen) get the *last* category, normally one of the rarest.
    """

    def h(p: str) -> str:
        return _hash_sql("i", seed, p)

    def u(p: str) -> str:
        return f"({h(p)} % 1000000 / 1000000.0)"

    day_lookup, base_ms, weekend, hour_lookup = _time_lookups(seed)
    skew_open, skew_close = "", ""
    if category_skew > 0 and category_ids:
        skew_open = f"case when {u('skew')} < {category_skew!r} then '{category_ids[-1]}' else "
        skew_close = " end"
    k = min(n, round(defect_rate * n))
    k1 = max(k, 1)
    codes = list(CHAT_REASON_CODES)
    rng = np.random.default_rng([seed, 2])
    code_perms = np.concatenate([rng.permutation(len(codes)) for _ in range(64)]).tolist()
    dup_code = codes.index("duplicate_id_in_file")

    def defective_at(j: str) -> str:
        """Stratified sampling: k equal strata, one pseudo-random row in each (exact count)."""
        stratum = f"(({j}) * {k} // {max(n, 1)})"
        start = f"(({stratum} * {n} + {k1 - 1}) // {k1})"
        size = f"((({stratum} + 1) * {n} + {k1 - 1}) // {k1} - {start})"
        return f"({k} > 0 and ({j}) = {start} + ({_hash_sql(stratum, seed, 'pos')} % greatest({size}, 1)::ubigint)::bigint)"

    # an earlier row that is certainly valid: a few random earlier rows, then the neighbours
    candidates = [f"floor({u(f'dup{t}')} * i)::bigint" for t in range(4)] + ["i - 1", "i - 2", "i - 3"]
    dup_j = "case " + " ".join(f"when {c} >= 0 and not {defective_at(c)} then {c}" for c in candidates) + " end"
    bad_ts = "['2023-13-45 25:61:00', 'yesterday', '31/12/2023 10:00']" + f"[({h('it')} % 3)::int + 1]"
    ms_fmt = "'%Y-%m-%d %H:%M:%S.%g'"
    iso = _SHARES["chat_iso_z"]
    mark = _BAD_UTF8_MARK
    if messages:
        full = "f5 || ',' || message_csv"
        dropped = "f5"
        bad_utf8 = f"f5 || ',' || {_csv_field_sql(f'(message || {chr(39)}{mark}{chr(39)})')}"
    else:
        full = "f5"
        dropped = "id_out || ',' || cat_out || ',' || created_out || ',' || init_out"
        bad_utf8 = f"id_out || ',' || cat_out || ',' || created_out || ',' || init_out || '{mark},' || resolved_out"
    pii_cols = (
        "ptype1, pii1, ptype2, pii2, (code is not distinct from 'malformed_row' and mvar = 0) as message_dropped,"
        if messages
        else ""
    )
    return f"""
    with r as (
        -- each run of len(codes) consecutive strata uses every code once, in a shuffled order
        select i, case when {defective_at("i")} then {_sql_list(code_perms)}[
                ({_hash_sql(f"(i * {k} // {max(n, 1)}) // {len(codes)}", seed, "codes")} % {len(code_perms) // len(codes)})::int
                * {len(codes)} + ((i * {k} // {max(n, 1)}) % {len(codes)})::int + 1] end as perm
        from {src}
    ),
    c0 as (
        select i,
            {_sql_list(codes)}[(perm % {len(codes)})::int + 1] as code0,
            case when perm % {len(codes)} = {dup_code} then {dup_j} end as dup_j,
            {_sql_list(day_lookup)}[({h("day")} % 10000)::int + 1] as day_idx,
            {u("cat_e")} < {_SHARES["chat_without_category"]} as cat_empty,
            {skew_open}{_sql_list(category_ids or [""])}[(floor(pow({u("cat")}, 1.7) * {max(len(category_ids), 1)}))::int + 1]{skew_close} as cat_id,
            {u("init_e")} < {_SHARES["chat_initiator_empty"]} as init_empty,
            {u("init")} < {_SHARES["chat_customer_initiated"]} as init_true,
            {u("unres")} < {_SHARES["chat_unresolved"]} as unresolved,
            {u("fmt")} as fmt_u,
            ({h("var")} % 3)::int as variant,
            ({h("mv")} % 3)::int as mvar,
            floor(1000 * exp({u("dur")} * ln(86400)))::bigint as dur_ms
        from r
    ),
    c1 as (
        select *,
            case when code0 = 'duplicate_id_in_file' and dup_j is null then 'invalid_id' else code0 end as code,
            ({_sql_list(base_ms)}[day_idx + 1]
              + {_sql_list(hour_lookup)}[{_sql_list(weekend)}[day_idx + 1] * 1000 + ({h("hr")} % 1000)::int + 1] * 3600000
              + ({h("ms")} % 3600000)::bigint)::bigint as created_ms
        from c0
    ),
    c2 as (
        select *,
            {_uuid_sql(seed, "chat", "case when code = 'duplicate_id_in_file' then dup_j else i end")} as uuid,
            epoch_ms(created_ms) as created_ts
        from c1
    ),
    t as (
        select *,
            case code
                when 'missing_id' then ''
                when 'invalid_id' then ['not-a-uuid-' || i::varchar, (1234500000 + i)::varchar, 'g' || substr(uuid, 2)][variant + 1]
                else uuid end as id_out,
            case when code = 'invalid_category_id' then 'cat-' || ({h("cc")} % 1000)::varchar
                 when cat_empty then '' else cat_id end as cat_out,
            case when code = 'missing_created_at' then ''
                 when code = 'invalid_timestamp' and variant <> 2 then {bad_ts}
                 when fmt_u < {iso} then strftime(created_ts, '%Y-%m-%dT%H:%M:%S.%gZ')
                 when fmt_u < {2 * iso} then
                    case when {h("off")} % 2 = 0 then strftime(created_ts + interval 11 hour, '%Y-%m-%dT%H:%M:%S.%g') || '+11:00'
                         else strftime(created_ts + interval 10 hour, '%Y-%m-%dT%H:%M:%S.%g') || '+10:00' end
                 else strftime(created_ts, {ms_fmt}) end as created_out,
            case when code = 'invalid_boolean' then ['maybe', '2', 'yess'][variant + 1]
                 when init_empty then '' when init_true then 'true' else 'false' end as init_out,
            case when code = 'invalid_timestamp' and variant = 2 then {bad_ts}
                 when code = 'resolved_before_created' then strftime(epoch_ms(created_ms - 1000 - dur_ms % 21600000), {ms_fmt})
                 when unresolved then '' else strftime(epoch_ms(created_ms + dur_ms), {ms_fmt}) end as resolved_out
        from c2
    ){_message_ctes(seed) if messages else ""},
    lines as (
        select *, id_out || ',' || cat_out || ',' || created_out || ',' || init_out || ',' || resolved_out as f5
            {", " + _csv_field_sql("message") + " as message_csv" if messages else ""}
        from {"msg" if messages else "t"}
    )
    select i, code, id_out as chat_id, cat_empty, init_empty, unresolved, {pii_cols}
        case when code = 'malformed_row' then
            case mvar when 0 then {dropped} when 1 then {full} || ',extra' else {bad_utf8} end
        else {full} end as line
    from lines
    """


def _splice_invalid_utf8(path: Path) -> int:
    """Overwrite, in place, every placeholder with invalid UTF-8 of the same byte length.

    Everything else in the file is ASCII, so the placeholder bytes cannot occur by accident.
    Returns the number of replacements.
    """
    mark = _BAD_UTF8_MARK.encode()
    count = 0
    with open(path, "r+b") as f, mmap.mmap(f.fileno(), 0) as mm:
        pos = mm.find(mark)
        while pos != -1:
            mm[pos : pos + len(mark)] = _BAD_UTF8_BYTES
            count += 1
            pos = mm.find(mark, pos + len(mark))
    return count


def _write_chats(
    out: Path,
    n: int,
    seed: int,
    defect_rate: float,
    messages: bool,
    category_ids: list[str],
    category_skew: float = 0.0,
) -> tuple[dict, dict | None]:
    con = duckdb.connect()
    try:
        con.execute("set preserve_insertion_order = true")
        con.execute("set enable_progress_bar = false")
        # a (non-temp) table scan lets every stage run in parallel; range() and temp tables did not
        con.execute(f"create table idx as select range as i from range({n})")
        con.execute(
            f"create temp view chats_gen as {_chats_sql(n, seed, defect_rate, messages, category_ids, category_skew=category_skew)}"
        )
        header = CHATS_HEADER + (",message" if messages else "")
        tmp = out / ".chats.csv.tmp"
        con.execute(f"""copy (select line as "{header}" from chats_gen) to {_sql_path(tmp)}
                        (format csv, header, delimiter '\x1f', quote '', escape '')""")
        counts = con.execute("""
            select code, count(*),
                   count(*) filter (where cat_empty), count(*) filter (where unresolved),
                   count(*) filter (where init_empty)
            from chats_gen group by code""").fetchall()
        pii = None
        if messages:
            pii_tmp = out / ".pii_truth.jsonl.tmp"
            # every column is a pure function of i, so only the rows with PII need recomputing
            con.execute(f"create table pii_idx as select i from idx where {_has_pii_sql(seed)}")
            con.execute(f"""create table pii_src as
                select i, code, chat_id, ptype1, pii1, ptype2, pii2, message_dropped
                from ({_chats_sql(n, seed, defect_rate, messages, category_ids, "pii_idx", category_skew)})""")
            con.execute("""create table pii as
                select i, code, chat_id, 1 as slot, ptype1 as ptype, pii1 as value from pii_src
                where ptype1 is not null and not message_dropped
                union all
                select i, code, chat_id, 2 as slot, ptype2, pii2 from pii_src
                where ptype2 is not null and not message_dropped""")
            con.execute(f"""copy (
                    select '{{"chat_id": "' || chat_id || '", "type": "' || ptype || '", "value": "' || value
                           || '", "line_number": ' || (i + 2)::varchar || ', "row_valid": '
                           || (code is null)::varchar || '}}' as line
                    from pii order by i, slot
                ) to {_sql_path(pii_tmp)} (format csv, header false, delimiter '\x1f', quote '', escape '')""")
            by_type = dict(con.execute("select ptype, count(*) from pii group by ptype").fetchall())
            os.replace(pii_tmp, out / "pii_truth.jsonl")
            by_type = {t: int(by_type.get(t, 0)) for t in _TYPES}
            pii = {"file": "pii_truth.jsonl", "values": sum(by_type.values()), "by_type": by_type}
    finally:
        con.close()
    defects = dict.fromkeys(CHAT_REASON_CODES, 0)
    stats = {"chats_without_category": 0, "chats_unresolved": 0, "chats_initiator_empty": 0}
    for code, cnt, no_cat, unres, init_empty in counts:
        if code is None:
            stats = {"chats_without_category": no_cat, "chats_unresolved": unres, "chats_initiator_empty": init_empty}
        else:
            defects[code] = cnt
    if defects["malformed_row"]:
        _splice_invalid_utf8(tmp)
    os.replace(tmp, out / "chats.csv")
    manifest = {"file": "chats.csv", "rows": n, "valid_rows": n - sum(defects.values()), "defects": defects}
    return {**manifest, "_stats": stats}, pii


# --------------------------------------------------------------------------- entry point


def generate(
    out: Path,
    chats: int = 10_000,
    categories: int = 460,
    seed: int = 42,
    defect_rate: float = 0.0,
    messages: bool = True,
    category_skew: float = 0.0,
) -> dict:
    """Write categories.csv, then chats.csv, then manifest.json into `out`; return the manifest.

    With ``messages`` also writes ``pii_truth.jsonl``: one JSON object per PII value
    inserted into a written message (``chat_id``, ``type``, ``value``, ``line_number``
    with header = 1, ``row_valid``). No other ``*.csv`` file is created in ``out``.
    Manifest ``stats`` count valid rows only; ``defects`` hold exact per-code counts.
    ``category_skew`` (0–1) moves that share of the chats to one rare category: a category shift
    for the drift checks to find.
    """
    if not 0.0 <= defect_rate <= 1.0:
        raise ValueError("defect_rate must be within [0, 1]")
    if not 0.0 <= category_skew <= 1.0:
        raise ValueError("category_skew must be within [0, 1]")
    started = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    cat_manifest, valid_categories = _write_categories(out / "categories.csv", categories, seed, defect_rate)
    chat_manifest, pii = _write_chats(out, chats, seed, defect_rate, messages, valid_categories, category_skew)
    manifest = {
        "seed": seed,
        "generator_version": GENERATOR_VERSION,
        "defect_rate": defect_rate,
        **({"category_skew": category_skew} if category_skew else {}),
        "messages": messages,
        "files": {
            "categories": {k: v for k, v in cat_manifest.items() if k != "_stats"},
            "chats": {k: v for k, v in chat_manifest.items() if k != "_stats"},
        },
        "pii": pii,
        "stats": {**chat_manifest["_stats"], **cat_manifest["_stats"]},
    }
    _atomic_write_bytes(out / "manifest.json", (json.dumps(manifest, indent=2) + "\n").encode())
    log.info(
        "generated",
        out=str(out),
        seed=seed,
        chats=chats,
        categories=categories,
        defect_rate=defect_rate,
        messages=messages,
        chat_defects=sum(manifest["files"]["chats"]["defects"].values()),
        category_defects=sum(manifest["files"]["categories"]["defects"].values()),
        pii_values=pii["values"] if pii else 0,
        duration_s=round(time.perf_counter() - started, 3),
    )
    return manifest


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Write deterministic synthetic chat exports.")
    parser.add_argument("out", type=Path, help="output folder")
    parser.add_argument("--chats", type=int, default=10_000, help="number of chat rows")
    parser.add_argument("--categories", type=int, default=460, help="number of category rows")
    parser.add_argument("--seed", type=int, default=42, help="random seed")
    parser.add_argument("--defect-rate", type=float, default=0.0, help="fraction of rows made defective")
    parser.add_argument("--no-messages", action="store_true", help="omit the message column")
    args = parser.parse_args(argv)
    generate(args.out, args.chats, args.categories, args.seed, args.defect_rate, not args.no_messages)


if __name__ == "__main__":
    main()
