-- The heatmap needs every (weekday, hour) cell exactly once: 7 × 24 = 168 rows,
-- no duplicates. Returns one row describing the problem when that does not hold.
with

hourly_distribution as (

    select * from {{ ref('hourly_distribution') }}

),

grid_check as (

    select
        count(*) as cells,
        count(distinct (weekday, hour)) as distinct_cells  -- noqa: ST08, LT01, LT06

    from hourly_distribution

),

final as (

    select *
    from grid_check
    where
        cells != 168
        or distinct_cells != 168

)

select * from final
