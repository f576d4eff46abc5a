"""Redaction stage: the shareable layer ``warehouse/share.duckdb``, built only from redacted data.

Access control is by file: the restricted warehouse (``warehouse.duckdb``, owner-only 0600,
raw messages for the compliance group) and the share file (no free text in clear, no
person identifiers in clear) that analysts and dashboards may open. What is PII comes from
one list, the ``meta: {pii: …}`` markers in the dbt model yml (``transform.pii_columns``):

* ``pii: true`` / ``free_text`` — free text: typed placeholders via ``pii.redact_sql``
  (vectorised DuckDB SQL);
* ``pii: identifier`` (and any column named in the ``pii_identifier_columns`` setting) —
  replaced by a keyed hash, HMAC-SHA256 with a secret key, so joins still work but values
  cannot be reversed by hashing a dictionary of candidates (an unsalted hash can).

The share file is built under a temporary name and moved into place, so readers see the
previous complete file or the new one.
"""
from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from typing import Any

import structlog

from pipeline import db, pii
from pipeline.errors import ConfigError
from pipeline.logs import stage
from pipeline.settings import Settings

log = structlog.get_logger()

#: Share tables and the warehouse relation each one is built from (one row per chat / category).
SHARE_TABLES = {
    "chats": "staging.stg_support__chats",
    "categories": "intermediate.int_categories_resolved",
}
#: Analytical columns joined onto share.chats from the localized intermediate model.
LOCAL_COLUMNS = ("category_group_id", "is_category_known", "is_category_disabled", "created_at_local",
                 "resolved_at_local", "created_date_local", "resolved_date_local", "created_weekday_local",
                 "created_hour_local", "resolution_hours")
#: Lineage columns that stay in the restricted warehouse.
DROPPED = {"batch_id", "line_number"}


def pseudonym_key(settings: Settings) -> bytes:
    """The HMAC key: ``PIPELINE_PSEUDONYM_KEY``, else the key file (created on first use, 0600)."""
    if settings.pseudonym_key:
        if len(settings.pseudonym_key) < 16:
            raise ConfigError("PIPELINE_PSEUDONYM_KEY must be at least 16 characters")
        return settings.pseudonym_key.encode()
    path = settings.pseudonym_key_file
    if not path.exists():
        db.secure_dir(path.parent)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process created it first
            return path.read_text().strip().encode()
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32) + "\n")
        log.warning("pseudonym.key_created", path=str(path),
                    note="random key, owner-only; back it up: pseudonyms change if it is lost")
    if path.stat().st_mode & 0o077:
        raise ConfigError(f"{path} is readable by others; run: chmod 600 {path}")
    key = path.read_text().strip()
    if len(key) < 32:
        raise ConfigError(f"{path} holds no usable key (need ≥ 32 hex characters)")
    return key.encode()


def pseudonymise(key: bytes, value: str | None) -> str | None:
    """Keyed hash of an identifier: stable for joins, not reversible without the key."""
    if value is None:
        return None
    return hmac.new(key, str(value).encode(), hashlib.sha256).hexdigest()


def _columns(con, relation: str) -> list[str]:
    schema, table = relation.split(".")
    return [r[0] for r in con.execute(
        "select column_name from information_schema.columns where table_schema = ? and table_name = ? "
        "order by ordinal_position", [schema, table]).fetchall()]


def classify_columns(settings: Settings) -> dict[str, dict[str, str]]:
    """{relation: {column: 'free_text' | 'identifier'}} from the dbt yml markers and settings."""
    from pipeline.transform import pii_meta

    out: dict[str, dict[str, str]] = {}
    for relation, columns in pii_meta(settings).items():
        out[relation] = {c: ("identifier" if str(v).lower() == "identifier" else "free_text")
                         for c, v in columns.items()}
    return out


def _select_list(columns: list[str], kinds: dict[str, str], identifiers: set[str], alias: str,
                 rename: dict[str, str] | None = None) -> str:
    """The share's SELECT list: free text redacted, identifiers pseudonymised, lineage dropped."""
    exprs = []
    for column in columns:
        if column in DROPPED:
            continue
        ref, name = f"{alias}.{column}", (rename or {}).get(column, column)
        if kinds.get(column) == "identifier" or column in identifiers:
            exprs.append(f"pseudonym({ref}::varchar) as {name}")
        elif kinds.get(column) == "free_text":
            exprs.append(f"{pii.redact_sql(ref)} as {name}")
        else:
            exprs.append(f"{ref} as {name}")
    return ", ".join(exprs)


def build_share(settings: Settings) -> dict[str, Any]:
    """Rebuild ``share.duckdb`` from the warehouse: redacted chats, categories and every mart."""
    key = pseudonym_key(settings)
    kinds = classify_columns(settings)
    identifiers = set(settings.pii_identifier_columns)
    tmp = settings.warehouse / ".share.duckdb.tmp"
    tmp.unlink(missing_ok=True)
    with stage("redact") as summary, db.connect(settings) as con:
        pii.install_macros(con)
        con.create_function("pseudonym", lambda v: pseudonymise(key, v), ["VARCHAR"], "VARCHAR",
                            null_handling="special", side_effects=False)
        con.execute(f"attach '{tmp}' as share")
        try:
            chats_rel = SHARE_TABLES["chats"]
            chat_cols = _select_list(_columns(con, chats_rel), kinds.get(chats_rel, {}), identifiers, "c",
                                     rename={"chat_id": "id"})
            local = ", ".join(f"l.{c}" for c in LOCAL_COLUMNS)
            con.execute(f"""
                create table share.chats as
                select {chat_cols}, {local}
                from {chats_rel} as c
                left join intermediate.int_chats_localized as l on l.chat_id = c.chat_id""")
            cats_rel = SHARE_TABLES["categories"]
            cat_cols = _select_list(_columns(con, cats_rel), kinds.get(cats_rel, {}), identifiers, "k")
            con.execute(f"create table share.categories as select {cat_cols} from {cats_rel} as k")
            marts = [r[0] for r in con.execute(
                "select table_name from duckdb_tables() where database_name = current_database() "
                "and schema_name = 'marts' order by 1").fetchall()]
            for mart in marts:
                con.execute(f"create table share.{mart} as select * from marts.{mart}")
            counts = {t: con.execute(f"select count(*) from share.{t}").fetchone()[0]
                      for t in ("chats", "categories", *marts)}
            redacted = con.execute(
                "select count(*) filter (where message like '%[%]%') from share.chats").fetchone()[0]
        finally:
            con.execute("detach share")
        os.chmod(tmp, 0o644)  # shareable by design
        os.replace(tmp, settings.share_db)
        summary.update(tables=len(counts), chats=counts["chats"], messages_with_placeholders=redacted)
    return {"share_db": str(settings.share_db), "tables": counts, "messages_with_placeholders": redacted}
