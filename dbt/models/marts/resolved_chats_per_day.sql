with

-- read twice below: not materialized, or DuckDB (1.1+) copies every chat into a temporary
-- result first (2 s of a micro-batch at 5M chats); each reader scans the table instead
int_chats_localized as not materialized (

    select * from {{ ref('int_chats_localized') }}

),

coverage as (

    -- the local dates the data covers: first chat opened .. last chat opened or resolved
    select
        min(created_date_local) as first_date,
        greatest(max(created_date_local), max(resolved_date_local)) as last_date

    from int_chats_localized

),

resolved_per_day as (

    select
        resolved_date_local as resolved_date,
        count(*) as chats

    from int_chats_localized
    where is_resolved
    group by resolved_date_local

),

final as (

    select
        resolved_per_day.resolved_date,
        resolved_per_day.chats,
        resolved_per_day.resolved_date in (coverage.first_date, coverage.last_date) as is_partial_day

    from resolved_per_day
    cross join coverage

)

select * from final
