"""Ingest, step 2: the SQL that reads a file with DuckDB and judges every row.

One ``SELECT`` gives each row its typed values, the raw text of the checked columns and at
most one reason code (:data:`pipeline.contract.REASONS`). Built as nested named layers so
every value is computed once: raw text → typed values → range checks → reason.
"""

from __future__ import annotations

from pathlib import Path

from pipeline.contract import CHECKED_COLUMNS, DATASET_COLUMNS, FALSE_WORDS, TRUE_WORDS
from pipeline.stages.ingest.scan import MAX_LINE
from pipeline.store.db import sql_literal as _q


def _uuid_sql(raw: str) -> str:
    # trim only when the plain cast fails (trimming every value costs an allocation a row)
    return f"coalesce(try_cast({raw} as uuid), try_cast(trim({raw}) as uuid))"


def _bool_sql(raw: str) -> str:
    words_t = ", ".join(_q(w) for w in TRUE_WORDS)
    words_f = ", ".join(_q(w) for w in FALSE_WORDS)
    word = f"lower(trim({raw}))"
    return (
        f"case {raw} when 'true' then true when 'false' then false else "
        f"case when {word} in ({words_t}) then true when {word} in ({words_f}) then false end end"
    )


def _ts_sql(raw: str) -> str:
    # DuckDB 1.1+ casts '…T04:02:57+11:00' to TIMESTAMP by dropping the offset (1.0 converted it
    # to UTC). So the value comes from TIMESTAMPTZ, which converts 'Z' and '+hh:mm' offsets, read
    # back as TIMESTAMP in the session TimeZone (ingest sets it to UTC). The TIMESTAMP cast still
    # decides which forms are timestamps, as in 1.0: TIMESTAMPTZ alone would also take zone names
    # ('EST', 'Australia/Melbourne'). The range check (next layer) drops 'infinity' and years no
    # export has. A timestamp starts with a digit: DuckDB's words ('epoch', 'infinity', ...) are
    # not timestamps of a chat.
    # The TIMESTAMPTZ cast goes through ICU, ~6x the plain one (2M values: 2.17 s against 0.35 s):
    # only a text with a numeric offset needs it. TIMESTAMP accepts offsets only as '+hh…', '-hh…'
    # after the date, 'Z' or ' UTC' (the last two are UTC, which the plain cast gives too).
    def cast(text: str) -> str:
        return (
            f"case when strpos({text}, '+') = 0 and strpos(substr({text}, 11), '-') = 0 then try_cast({text} as timestamp) "
            f"when try_cast({text} as timestamp) is not null then try_cast({text} as timestamptz)::timestamp end"
        )

    return (
        f"case when ascii({raw}) between 48 and 57 then {cast(raw)} "
        f"when ascii(ltrim({raw})) between 48 and 57 then {cast(f'trim({raw})')} end"
    )


def _in_range(ts: str) -> str:
    return f"case when {ts} between timestamp '1900-01-01' and timestamp '2200-01-01' then {ts} end as {ts}"


def validated_select(dataset: str, columns: dict[str, str], read: str, overflow: str | None = None) -> str:
    """SELECT producing typed columns, raw text of the checked columns and one reason code.

    (One statement in named layers; splitting it would scatter one query over several functions.)

    Three layers, so that every value is computed once: raw text (an empty field is NULL),
    typed values, then the reason code. With ``overflow`` (the padded read of the fast path)
    a row with too few fields (the last column padded with NULL) or too many (the overflow
    column filled) is ``malformed_row``.
    """
    contract = tuple(DATASET_COLUMNS[dataset])
    raws = ", ".join(
        f"nullif({columns[c]}, '') as r_{c}" if c in columns else f"null::varchar as r_{c}" for c in contract
    )
    extras = [
        f"{_q(name.removeprefix('extra:'))}, nullif({col}, '')"
        for name, col in columns.items()
        if name.startswith("extra:")
    ]
    extra_sql = f"json_object({', '.join(extras)})" if extras else "null::json"
    malformed = f"(c{len(columns) - 1} is null or {overflow} is not null)" if overflow else "false"
    if dataset == "chats":
        typed = f"""
            {_uuid_sql("r_id")} as id,
            {_uuid_sql("r_chat_category_id")} as chat_category_id,
            {_ts_sql("r_created_at")} as created_at,
            {_bool_sql("r_is_customer_initiated")} as is_customer_initiated,
            {_ts_sql("r_resolved_at")} as resolved_at,
            r_message as message"""
        ranged = f"* replace ({_in_range('created_at')}, {_in_range('resolved_at')})"
        reason = """
            case
                when _malformed then 'malformed_row'
                when r_id is null then 'missing_id'
                when id is null then 'invalid_id'
                when r_created_at is null then 'missing_created_at'
                when created_at is null or (r_resolved_at is not null and resolved_at is null)
                    then 'invalid_timestamp'
                when r_is_customer_initiated is not null and is_customer_initiated is null
                    then 'invalid_boolean'
                when r_chat_category_id is not null and chat_category_id is null
                    then 'invalid_category_id'
                when resolved_at < created_at then 'resolved_before_created'
            end"""
    else:
        typed = f"""
            {_uuid_sql("r_id")} as id,
            {_uuid_sql("case when lower(trim(r_parent_id)) = 'null' then null else r_parent_id end")} as parent_id,
            {_bool_sql("r_disabled")} as disabled"""
        ranged = "*"
        reason = """
            case
                when _malformed then 'malformed_row'
                when r_id is null then 'missing_id'
                when id is null then 'invalid_id'
                when r_disabled is not null and disabled is null then 'invalid_boolean'
                when r_parent_id is not null and lower(trim(r_parent_id)) <> 'null' and parent_id is null
                    then 'invalid_category_id'
                when parent_id = id then 'self_parent'
            end"""
    checked = ", ".join(f"r_{c}" for c in CHECKED_COLUMNS[dataset])
    # Raw text is kept only for rejected rows: it is what the quarantine shows.
    keep_raw = ", ".join(f"case when reason_code is not null then r_{c} end as r_{c}" for c in CHECKED_COLUMNS[dataset])
    return f"""
        select {", ".join(contract)}, _extra, reason_code, {keep_raw}
        from (
            select *, {reason} as reason_code
            from (
                select {ranged}
                from (
                    select {typed}, {checked}, _extra, _malformed
                    from (
                        select {raws}, {extra_sql} as _extra, {malformed} as _malformed
                        from {read}
                    )
                )
            )
        )"""


_NULL = "\x1f<null>\x1f"  # the reader's NULL string: not in CSV text, so empty fields read as ''


def read_csv(path: Path, n_fields: int, *, padded: bool, parallel: bool = True) -> str:
    """DuckDB's reader over the file, every field as text, records it cannot parse skipped.

    (Skipped with ``store_rejects``: with ``ignore_errors`` DuckDB 1.0 miscounts after an
    unterminated quote, count(*) = -1, and can crash.) Delimiter, quote and escape are always
    given: with ``auto_detect = false`` DuckDB 1.4 defaults the escape to none, and ``""`` in a
    quoted field would end it. ``buffer_size`` is given because 1.4 otherwise makes it 16 ×
    ``max_line_size`` (1 GiB for 64 MiB lines, over the 512 MB memory limit); equal to it, a
    record of up to :data:`~pipeline.stages.ingest.scan.MAX_LINE` bytes still loads.

    ``padded`` adds an overflow column and pads short rows with NULL (an empty field reads
    as '' thanks to the NULL string), so rows with too few or one too many fields come
    back as rows that the validation marks ``malformed_row``. The records it skips are in its
    reject store (complete since DuckDB 1.1; 1.0's was lossy), which the account that follows
    maps onto the file's own records.

    ``parallel=False``: DuckDB 1.4's parallel scanner refuses ``null_padding`` on some files with
    quoted newlines ("does not support null_padding in conjunction with quoted new lines"; a
    message with a line break is enough); the caller reads those again serially.
    """
    names = [f"c{i}" for i in range(n_fields)] + (["c_over"] if padded else [])
    spec = "{" + ", ".join(f"'{name}': 'VARCHAR'" for name in names) + "}"
    return (
        f"read_csv({_q(str(path))}, header = true, auto_detect = false, delim = ',', quote = '\"', "
        f"escape = '\"', columns = {spec}, nullstr = {_q(_NULL)}, null_padding = {str(padded).lower()}, "
        f"store_rejects = true, rejects_table = 'reader_rejects', rejects_scan = 'reader_scans', "
        f"max_line_size = {MAX_LINE}, buffer_size = {MAX_LINE}{'' if parallel else ', parallel = false'})"
    )
