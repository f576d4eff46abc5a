with

int_chats_localized as (

    select * from {{ ref('int_chats_localized') }}

),

weekdays as (

    -- ISO weekdays; 2024-01-01 was a Monday
    select
        weekday,
        dayname(date '2024-01-01' + cast(weekday - 1 as integer)) as weekday_name

    from range(1, 8) as weekday_range (weekday)

),

hours as (

    select hour from range(0, 24) as hour_range (hour)

),

grid as (

    select
        weekdays.weekday,
        weekdays.weekday_name,
        hours.hour

    from weekdays
    cross join hours

),

chats_per_slot as (

    select
        created_weekday_local as weekday,
        created_hour_local as hour,
        count(*) as chats

    from int_chats_localized
    group by created_weekday_local, created_hour_local

),

final as (

    select
        cast(grid.weekday as integer) as weekday,
        grid.weekday_name,
        cast(grid.hour as integer) as hour,
        coalesce(chats_per_slot.chats, 0) as chats

    from grid
    left join chats_per_slot
        on
            grid.weekday = chats_per_slot.weekday
            and grid.hour = chats_per_slot.hour

)

select * from final
