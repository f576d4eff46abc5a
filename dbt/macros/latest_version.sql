{#
    The latest version of each row of an append-only raw table: a later batch re-exports an
    entity with its new state (e.g. a chat that got resolved). Arrival order of the batch
    (_batch_seq) decides, then the line within the file; (_batch_seq, _line_number) is unique
    per key because ingest quarantines a key repeated within one file.

    Written as "latest position per key" joined back to the rows rather than as a window over
    whole rows: the window would hold every column (free-text messages included) in memory per
    partition, which runs out of a 512 MB budget at a few million rows; the aggregate and the
    join carry only the key and one integer (batch seq in the high 32 bits, line in the low 32)
    and spill to disk when they must.
#}
{% macro version_position(relation) -%}
    (({{ relation }}._batch_seq::bigint << 32) | {{ relation }}._line_number::bigint)
{%- endmacro %}

{% macro latest_version(relation, key='id') %}
    select {{ relation }}.*
    from {{ relation }}
    semi join (
        select {{ key }} as latest_key, max({{ version_position(relation) }}) as latest_position
        from {{ relation }}
        group by {{ key }}
    ) as latest
        on latest.latest_key = {{ relation }}.{{ key }}
        and latest.latest_position = {{ version_position(relation) }}
{% endmacro %}
