{#-
    Naive UTC timestamp -> naive wall-clock timestamp in `tz` (default var('timezone')).
    Uses DuckDB's ICU time-zone rules, so daylight saving is honoured
    (Melbourne is UTC+11 in January, UTC+10 in July), independent of the
    session TimeZone setting.
-#}
{% macro to_local_timestamp(column, tz=none) -%}
    timezone('{{ tz or var("timezone") }}', {{ column }} at time zone 'UTC')
{%- endmacro %}
