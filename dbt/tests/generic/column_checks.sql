{#-
    Model-level: every column rule of one model in a single scan of it. It returns one row
    (check_name, failing_rows) per rule that does not hold, and dbt counts the failing rows.

    One test node per model instead of one per (rule, column): a dbt node costs ~30 ms of
    dbt's own work before its query runs, and ~90 column rules were most of a micro-batch's
    build (3.3 s of a warm build of a 100-chat batch; 1.2-1.5 s with one node per model).
    One scan also reads a big table once instead of once per rule.

    - not_null: [column, ...]               rows where the column is null
    - unique: [column, ...]                 non-null rows beyond the first of each value
    - accepted_values: {column: [v, ...]}   non-null values outside the list
    - between: {column: [min, max]}         non-null values outside [min, max]; a bound may be null

    new_rows (incremental models): a condition that holds for the rows this build writes (those
    of the batches it takes in, new_batches()); only they are checked, unless the build is a
    --full-refresh. The rows already there were checked when they were written; every rule
    holds per row or per key, and the model replaces a key's row whole, so only written rows can
    break one. At 5M chats the unfiltered checks of the two incremental models cost ~2 s of every
    micro-batch's build.
-#}
{% test column_checks(model, not_null=[], unique=[], accepted_values={}, between={}, new_rows=none) %}

    {{ config(fail_calc='coalesce(sum(failing_rows), 0)') }}

    {%- set rules = column_check_rules(not_null, unique, accepted_values, between) %}

with

counted as (

    select
    {%- for name, expression in rules %}
        {{ expression }} as rule_{{ loop.index }}{{ "," if not loop.last }}
    {%- endfor %}

    from {{ model }}
    {%- if new_rows and not flags.FULL_REFRESH %}
    where {{ new_rows }}
    {%- endif %}

)

{% for name, expression in rules %}
    select
        '{{ name }}' as check_name,
        rule_{{ loop.index }} as failing_rows
    from counted
    where rule_{{ loop.index }} > 0
    {% if not loop.last %}union all{% endif %}
{% endfor %}

{% endtest %}
