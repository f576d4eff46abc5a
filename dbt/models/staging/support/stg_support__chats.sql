with

source as (

    select * from {{ source('support', 'chats') }}

),

latest as (

    -- raw is append-only: a later batch re-exports a chat with its new state
    select *
    from source
    qualify row_number() over (
        partition by id
        order by _batch_seq desc, _line_number desc
    ) = 1

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
