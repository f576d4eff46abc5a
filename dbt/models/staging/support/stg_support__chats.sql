with

source as (

    select * from {{ source('support', 'chats') }}

),

latest as (

    {{ latest_version('source') }}

),

final as (

    select
        id as chat_id,
        chat_category_id as category_id,
        created_at,
        resolved_at,
        is_customer_initiated,
        resolved_at is not null as is_resolved,
        message,
        _batch_id as batch_id,
        _line_number as line_number

    from latest

)

select * from final
