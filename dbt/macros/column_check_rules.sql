{#-
    The rules of a column_checks test (tests/generic/column_checks.sql) as (name, SQL count
    of the rows that break it) pairs, in the order given: not_null, unique, accepted_values,
    between.
-#}
{% macro column_check_rules(not_null, unique, accepted_values, between) %}
    {%- set rules = [] %}
    {%- for column in not_null %}
        {%- do rules.append(('not_null(' ~ column ~ ')', 'count(*) filter (where ' ~ column ~ ' is null)')) %}
    {%- endfor %}
    {%- for column in unique %}
        {%- do rules.append(('unique(' ~ column ~ ')', 'count(' ~ column ~ ') - count(distinct ' ~ column ~ ')')) %}
    {%- endfor %}
    {%- for column, values in accepted_values.items() %}
        {%- set literals = [] %}
        {%- for value in values %}
            {%- do literals.append("'" ~ value | replace("'", "''") ~ "'" if value is string else (value | string | lower)) %}
        {%- endfor %}
        {%- do rules.append((
            'accepted_values(' ~ column ~ ')',
            'count(*) filter (where ' ~ column ~ ' not in (' ~ literals | join(', ') ~ '))'
        )) %}
    {%- endfor %}
    {%- for column, bounds in between.items() %}
        {%- set outside = [] %}
        {%- if bounds[0] is not none %}{% do outside.append(column ~ ' < ' ~ bounds[0]) %}{% endif %}
        {%- if bounds[1] is not none %}{% do outside.append(column ~ ' > ' ~ bounds[1]) %}{% endif %}
        {%- do rules.append(('between(' ~ column ~ ')', 'count(*) filter (where ' ~ outside | join(' or ') ~ ')')) %}
    {%- endfor %}
    {{ return(rules) }}
{% endmacro %}
