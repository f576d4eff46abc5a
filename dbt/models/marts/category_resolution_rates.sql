with

int_chats_localized as (

    select * from {{ ref('int_chats_localized') }}

),

counts_per_group as (

    select
        category_group_id,
        count(*) as total_chats,
        count(*) filter (where is_resolved) as resolved_chats

    from int_chats_localized
    where is_category_known
    group by category_group_id

),

rates as (

    select
        category_group_id,
        total_chats,
        resolved_chats,
        round(cast(resolved_chats as double) / total_chats * 100, 2) as resolution_rate_pct

    from counts_per_group

),

final as (

    select
        category_group_id,
        total_chats,
        resolved_chats,
        resolution_rate_pct,
        -- a rate over a handful of chats says little: rankings use groups with enough of them
        total_chats >= {{ var('min_group_chats', 30) }} as meets_min_sample,
        -- ranked on the published (rounded) rate, so equal-looking rates tie-break by id
        row_number() over (
            order by resolution_rate_pct asc, cast(category_group_id as varchar) asc
        ) as rate_rank

    from rates

)

select * from final
