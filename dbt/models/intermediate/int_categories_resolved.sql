{%- set rollup = var('category_rollup') -%}
{%- if rollup not in ('leaf', 'parent', 'root') -%}
    {{ exceptions.raise_compiler_error(
        "var category_rollup must be leaf, parent or root, not '" ~ rollup ~ "'"
    ) }}
{%- endif -%}

with recursive

stg_support__categories as (

    select * from {{ ref('stg_support__categories') }}

),

ancestry as (

    -- one row per (category, ancestor-or-self); distance 0 is the category itself
    select
        category_id,
        category_id as ancestor_id,
        parent_category_id as next_ancestor_id,
        disabled as ancestor_disabled,
        0 as distance,
        [category_id] as visited_ids

    from stg_support__categories

    union all

    select
        ancestry.category_id,
        stg_support__categories.category_id as ancestor_id,
        stg_support__categories.parent_category_id as next_ancestor_id,
        stg_support__categories.disabled as ancestor_disabled,
        ancestry.distance + 1 as distance,
        list_append(ancestry.visited_ids, stg_support__categories.category_id) as visited_ids

    from ancestry
    inner join stg_support__categories
        on ancestry.next_ancestor_id = stg_support__categories.category_id
    -- cycle guard: never revisit a category. Each path visits distinct categories, so the
    -- recursion ends for any depth; there is no fixed cap that could cut a deep tree silently.
    where not list_contains(ancestry.visited_ids, stg_support__categories.category_id)

),

ancestry_summarised as (

    select
        category_id,
        max(distance) as depth,
        arg_max(ancestor_id, distance) as root_category_id,
        min(distance) filter (where ancestor_disabled is not null) as disabled_distance,
        arg_min(ancestor_disabled, distance) filter (where ancestor_disabled is not null)
            as inherited_disabled

    from ancestry
    group by category_id

),

resolved as (

    select
        stg_support__categories.category_id,
        stg_support__categories.parent_category_id,
        ancestry_summarised.root_category_id,
        ancestry_summarised.depth,
        stg_support__categories.disabled,
        coalesce(ancestry_summarised.inherited_disabled, false) as is_disabled,
        case
            when ancestry_summarised.disabled_distance = 0 then 'self'
            when ancestry_summarised.disabled_distance > 0 then 'ancestor'
            else 'default'
        end as disabled_source

    from stg_support__categories
    inner join ancestry_summarised
        on stg_support__categories.category_id = ancestry_summarised.category_id

),

final as (

    select
        category_id,
        parent_category_id,
        root_category_id,
        depth,
        {% if rollup == 'leaf' -%}
            category_id
        {%- elif rollup == 'parent' -%}
            coalesce(parent_category_id, category_id)
        {%- else -%}
            root_category_id
        {%- endif %} as category_group_id,
        disabled,
        is_disabled,
        disabled_source

    from resolved

)

select * from final
