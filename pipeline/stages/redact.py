"""Redaction stage: the shareable layer ``<warehouse>-share/share.duckdb``, built only from redacted data.

Access control is by file and folder: the restricted warehouse (``warehouse.duckdb``, owner-only
0600 in a 0700 folder, raw messages for the compliance group) and the share folder (setting
``share``, outside the warehouse, 2750 with group ``share_group``) whose file (0440; no free text
in clear, no person identifiers in clear) analysts and dashboards may open. What is PII comes from
one list, the ``meta: {pii: …}`` markers in the dbt model yml (:mod:`pipeline.privacy.catalog`):

* ``pii: true`` / ``free_text`` — free text: typed placeholders via
  :func:`pipeline.privacy.patterns.redact_sql` (vectorised DuckDB SQL);
* ``pii: identifier`` (and any column named in the ``pii_identifier_columns`` setting) —
  replaced by a keyed hash, HMAC-SHA256 with a secret key, so joins still work but values
  cannot be reversed by hashing a dictionary of candidates (an unsalted hash can).

The share file is built under a temporary name and moved into place, so readers see the
previous complete file or the new one. It also carries ``batches`` (which batches the layer
holds), so the export reads nothing but the share layer.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path
from typing import Any

import structlog

from pipeline.logs import stage
from pipeline.privacy import patterns, udf
from pipeline.privacy.catalog import classify_columns
from pipeline.privacy.pseudonyms import pseudonym_key, pseudonymise
from pipeline.settings import Settings
from pipeline.store import db, ledger
from pipeline.store.files import share_file, shared_dir

log = structlog.get_logger()

#: Share tables and the warehouse relation each one is built from (one row per chat / category).
SHARE_TABLES = {
    "chats": "staging.stg_support__chats",
    "categories": "intermediate.int_categories_resolved",
}
#: Analytical columns joined onto share.chats from the localized intermediate model.
LOCAL_COLUMNS = (
    "category_group_id",
    "is_category_known",
    "is_category_disabled",
    "created_at_local",
    "resolved_at_local",
    "created_date_local",
    "resolved_date_local",
    "created_weekday_local",
    "created_hour_local",
    "resolution_hours",
)
#: Lineage columns that stay in the restricted warehouse.
DROPPED = {"batch_id", "line_number"}


def _columns(con, relation: str) -> list[str]:
    schema, table = relation.split(".")
    return [
        r[0]
        for r in con.execute(
            "select column_name from information_schema.columns where table_schema = ? and table_name = ? "
            "order by ordinal_position",
            [schema, table],
        ).fetchall()
    ]


def _select_list(
    columns: list[str],
    kinds: dict[str, str],
    identifiers: set[str],
    alias: str,
    rename: dict[str, str] | None = None,
    redacted: bool = False,
) -> str:
    """The share's SELECT list: free text redacted (unless the source already is, ``redacted``),
    identifiers pseudonymised, lineage dropped."""
    exprs = []
    for column in columns:
        if column in DROPPED:
            continue
        ref, name = f"{alias}.{column}", (rename or {}).get(column, column)
        if kinds.get(column) == "identifier" or column in identifiers:
            exprs.append(f"pseudonym({ref}::varchar) as {name}")
        elif kinds.get(column) == "free_text" and not redacted:
            exprs.append(f"{patterns.redact_sql(ref)} as {name}")
        else:
            exprs.append(f"{ref} as {name}")
    return ", ".join(exprs)


def _share_batches(con) -> None:
    """``share.batches``: the published batches the layer holds (no raw values, no errors).

    One statement over the ledger: inserted from Python a row at a time, its cost grew with every
    batch ever loaded."""
    con.execute(
        "create or replace table share.batches as select batch_id, seq, dataset, file, rows_loaded "
        f"from meta.batches where stage in {ledger.PUBLISHED_STAGES} order by seq"
    )


def _layer_version(settings: Settings, key: bytes) -> str:
    """What the share's rows were computed with: a share made with other vars or another key is rebuilt."""
    fingerprint = hashlib.sha256(key).hexdigest()[:16]
    return f"timezone={settings.timezone};rollup={settings.category_rollup};key={fingerprint}"


def _can_update(con, version: str) -> bool:
    """Whether the attached copy of the previous share can be brought up to date in place."""
    tables = {
        r[0] for r in con.execute("select table_name from duckdb_tables() where database_name = 'share'").fetchall()
    }
    if not {"chats", "_layer"} <= tables:
        return False
    return con.execute("select version from share._layer").fetchone() == (version,)


def _changed_chats(con, id_expr: str) -> int:
    """Temp table ``changed_chats``: the staging rows of the chats whose share row is new or
    stale (all their columns: the redaction reads them from here); returns how many.

    New versions came with the batches dbt just built (ledger stage ``transformed``); a chat
    whose category now resolves differently has stale analytical columns. The rows are copied
    out once, selected by batch: staging's zone maps on ``batch_id`` skip the history, where a
    semi join on ``chat_id`` scans every message, once per step of the layered redaction query
    (at 5M chats 1.0-1.6 s instead of 0.5 s for a 10k-chat batch).
    """
    con.execute("create or replace temp table new_batches (batch_id varchar)")
    new = ledger.batch_ids_at(con, "transformed")
    db.insert_rows(con, "new_batches", [(b,) for b in new])
    # Only new categories change how a chat's category resolves (vars too, but other vars give
    # another layer version: a rebuild). Comparing every share row costs a scan of all history
    # (5M chats: 12 of a 10k-chat batch's 18 s of redaction), so only then.
    stale = f"""
        or c.chat_id in (
            select l.chat_id
            from intermediate.int_chats_localized as l
            join share.chats as s on s.id = {id_expr}
            where (s.category_group_id, s.is_category_known, s.is_category_disabled)
                is distinct from (l.category_group_id, l.is_category_known, l.is_category_disabled)
        )"""
    categories_changed = any((ledger.get(con, b) or {}).get("dataset") == "categories" for b in new)
    con.execute(f"""
        create or replace temp table changed_chats as
        select c.* from {SHARE_TABLES["chats"]} as c
        where c.batch_id in (select batch_id from new_batches)
        {stale if categories_changed else ""}""")
    return con.execute("select count(*) from changed_chats").fetchone()[0]


def _publish_share(built: Path, share_db: Path, gid: int) -> None:
    """Swap a freshly built share file into place so no reader session can change what it shows.

    Read-only for the owner and the analysts' group (0440, group ``share_group``; the folder
    is 2750 outside the warehouse): analysts open it with ``read_only=True``; a read-write
    session would leave a WAL that DuckDB replays onto the *next* published file. Stale side
    files (``.wal``) are removed before and after the rename for the same reason.
    """
    share_file(built, gid, 0o440)
    wal = share_db.with_name(share_db.name + ".wal")
    wal.unlink(missing_ok=True)
    os.replace(built, share_db)
    wal.unlink(missing_ok=True)


def build_share(settings: Settings, *, full_refresh: bool = False) -> dict[str, Any]:
    """Bring ``share.duckdb`` up to date: redacted chats, categories and every mart.

    Incremental by default: the previous share is copied and only chats that are new or stale
    are redacted again (:func:`_changed_chats`); categories, marts and ``batches`` are small and
    replaced. A full rebuild redacts every chat: with ``full_refresh``, when there is no previous
    share, or when it was made with other vars or another pseudonym key. Either way the result
    is published as a new file (see :func:`_publish_share`); both paths give the same tables (tested).
    """
    key = pseudonym_key(settings)
    version = _layer_version(settings, key)
    kinds = classify_columns(settings)
    identifiers = set(settings.pii_identifier_columns)
    shared_dir(settings.share_dir, settings.share_gid)
    tmp = settings.share_dir / ".share.duckdb.tmp"  # 0600 until published: same folder for the rename
    tmp.unlink(missing_ok=True)
    if settings.share_db.exists() and not full_refresh:
        shutil.copyfile(settings.share_db, tmp)  # a plain copy: far cheaper than redacting again
        os.chmod(tmp, 0o600)
    with stage("redact") as summary, db.connect(settings) as con:
        patterns.install_macros(con)
        udf.register_text_function(con, "pseudonym", lambda v: pseudonymise(key, v))
        con.execute(f"attach {db.sql_literal(str(tmp))} as share")
        try:
            redacted_now, with_placeholders = _fill_share(con, kinds, identifiers, version)
            marts = [
                r[0]
                for r in con.execute(
                    "select table_name from duckdb_tables() where database_name = current_database() "
                    "and schema_name = 'marts' order by 1"
                ).fetchall()
            ]
            for mart in marts:
                con.execute(f"create or replace table share.{mart} as select * from marts.{mart}")
            _share_batches(con)
            counts = {
                t: con.execute(f"select count(*) from share.{t}").fetchone()[0]
                for t in ("chats", "categories", *marts, "batches")
            }
        finally:
            con.execute("detach share")
        _publish_share(tmp, settings.share_db, settings.share_gid)
        summary.update(
            tables=len(counts),
            chats=counts["chats"],
            chats_redacted_now=redacted_now,
            messages_with_placeholders_now=with_placeholders,
        )
    return {
        "share_db": str(settings.share_db),
        "tables": counts,
        "chats_redacted_now": redacted_now,
        "messages_with_placeholders_now": with_placeholders,
    }


def _fill_share(con, kinds: dict, identifiers: set[str], version: str) -> tuple[int, int]:
    """``share.chats`` (incrementally when the attached copy allows) and ``share.categories``;
    returns how many chats were redacted in this run and how many of them got a placeholder in
    their free text (counted over the rows written: over all of share.chats it would cost a scan of
    every message ever loaded, 0.2-0.4 s per batch at 5M chats)."""
    chats_rel = SHARE_TABLES["chats"]
    columns = _columns(con, chats_rel)
    chat_kinds = kinds.get(chats_rel, {})
    chat_cols = _select_list(columns, chat_kinds, identifiers, "c", rename={"chat_id": "id"}, redacted=True)
    pseudonymised = chat_kinds.get("chat_id") == "identifier" or "chat_id" in identifiers
    id_expr = "pseudonym(l.chat_id::varchar)" if pseudonymised else "l.chat_id"
    local = ", ".join(f"l.{c}" for c in LOCAL_COLUMNS)
    free_text = [c for c in columns if chat_kinds.get(c) == "free_text" and c not in identifiers]

    def rows(source: str) -> str:
        # ``source``: the chats to write, their free text already redacted
        return f"""
        select {chat_cols}, {local}
        from {source} as c
        left join intermediate.int_chats_localized as l on l.chat_id = c.chat_id"""

    if _can_update(con, version):
        redacted = _changed_chats(con, id_expr)
        con.execute(
            f"delete from share.chats where id in (select {id_expr.replace('l.', 'changed_chats.')} from changed_chats)"
        )
        written = "changed_chats_redacted"
        if redacted:  # a batch without chats pays nothing (the layered query's bind compiles every regex)
            # a watcher's small batch goes through the Python twin, a large one the layered query
            patterns.redact_into(con, "changed_chats_clear", "changed_chats", free_text)
            con.execute(f"create or replace temp table {written} as {rows('changed_chats_clear')}")
            con.execute(f"insert into share.chats select * from {written}")
    else:
        for table in ("chats", "_layer"):
            con.execute(f"drop table if exists share.{table}")
        # every chat: the layered query (each step only on the rows it can change)
        con.execute(f"create table share.chats as {rows('(' + patterns.redact_query(chats_rel, free_text) + ')')}")
        con.execute("create table share._layer as select ? as version", [version])
        redacted, written = con.execute("select count(*) from share.chats").fetchone()[0], "share.chats"
    placeholders = 0
    if redacted and free_text:
        with_one = " or ".join(f"{c} like '%[%]%'" for c in free_text)
        placeholders = con.execute(f"select count(*) filter (where {with_one}) from {written}").fetchone()[0]
    cats_rel = SHARE_TABLES["categories"]
    cat_cols = _select_list(_columns(con, cats_rel), kinds.get(cats_rel, {}), identifiers, "k")
    con.execute(f"create or replace table share.categories as select {cat_cols} from {cats_rel} as k")
    return redacted, placeholders
