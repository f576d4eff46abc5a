with

int_chats_localized as (

    select * from {{ ref('int_chats_localized') }}

),

times_per_group as (

    select
        category_group_id,
        count(*) as resolved_chats,
        round(avg(resolution_hours), 2) as avg_resolution_hours

    from int_chats_localized
    where
        is_category_known
        and is_resolved
    group by category_group_id

),

final as (

    select
        category_group_id,
        resolved_chats,
        avg_resolution_hours,
        -- a mean over a handful of resolved chats says little: rankings use groups with enough
        resolved_chats >= {{ var('min_group_chats', 30) }} as meets_min_sample,
        -- ranked on the published (rounded) average, so equal-looking times tie-break by id
        row_number() over (
            order by avg_resolution_hours asc, cast(category_group_id as varchar) asc
        ) as speed_rank

    from times_per_group

)

select * from final
