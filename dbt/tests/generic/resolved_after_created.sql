{#- Fails for every row resolved before it was created. Open rows (null resolved) pass. -#}
{% test resolved_after_created(model, created_at_column='created_at', resolved_at_column='resolved_at') %}

select *
from {{ model }}
where {{ resolved_at_column }} is not null
    and {{ resolved_at_column }} < {{ created_at_column }}

{% endtest %}
