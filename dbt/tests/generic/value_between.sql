{#-
    Fails for every non-null value outside [min_value, max_value]; either bound
    may be omitted. Nulls pass (combine with not_null where they must not occur).
-#}
{% test value_between(model, column_name, min_value=none, max_value=none) %}

{%- set below = column_name ~ " < " ~ min_value if min_value is not none else "false" %}
{%- set above = column_name ~ " > " ~ max_value if max_value is not none else "false" %}

select {{ column_name }} as value
from {{ model }}
where
    {{ column_name }} is not null
    and ({{ below }} or {{ above }})

{% endtest %}
