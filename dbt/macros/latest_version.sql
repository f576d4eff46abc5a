{#
    The latest version of each row of an append-only raw table: a later batch re-exports an
    entity with its new state (e.g. a chat that got resolved). Arrival order of the batch
    (_batch_seq) decides, then the line within the file.
#}
{% macro latest_version(relation, key='id') %}
    select *
    from {{ relation }}
    qualify row_number() over (
        partition by {{ key }}
        order by _batch_seq desc, _line_number desc
    ) = 1
{% endmacro %}
