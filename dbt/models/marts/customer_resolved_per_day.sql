with

int_chats_localized as (

    select * from {{ ref('int_chats_localized') }}

),

final as (

    select
        resolved_date_local as resolved_date,
        count(*) as chats

    from int_chats_localized
    where
        is_resolved
        and is_customer_initiated
    group by resolved_date_local

)

select * from final
