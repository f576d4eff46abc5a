with

int_chats_localized as (

    select * from {{ ref('int_chats_localized') }}

),

customer_resolved_per_day as (

    select * from {{ ref('customer_resolved_per_day') }}

),

chat_totals as (

    select
        count(*) as total_chats,
        count(*) filter (where is_resolved) as resolved_chats,
        count(*) filter (where is_customer_initiated) as customer_initiated_chats,
        count(*) filter (where is_resolved and is_customer_initiated)
            as customer_initiated_resolved_chats,
        min(created_date_local) as first_created_date,
        max(created_date_local) as last_created_date,
        min(resolved_date_local) as first_resolved_date,
        max(resolved_date_local) as last_resolved_date

    from int_chats_localized

),

daily_median as (

    -- continuous median over the days that had at least one such resolution
    select quantile_cont(chats, 0.5) as median_customer_initiated_resolved_per_day

    from customer_resolved_per_day

),

final as (

    select
        chat_totals.total_chats,
        chat_totals.resolved_chats,
        chat_totals.customer_initiated_chats,
        chat_totals.customer_initiated_resolved_chats,
        daily_median.median_customer_initiated_resolved_per_day,
        chat_totals.first_created_date,
        chat_totals.last_created_date,
        chat_totals.first_resolved_date,
        chat_totals.last_resolved_date

    from chat_totals
    cross join daily_median

)

select * from final
