{{ config(materialized='incremental', unique_key='chat_id', incremental_strategy='delete+insert') }}

with

-- read twice below: not materialized, or DuckDB (1.1+) copies all of raw.chats, messages and
-- all, into a temporary result before the incremental filter (3 s of a micro-batch at 5M chats)
source as not materialized (

    select * from {{ source('support', 'chats') }}

),

candidates as not materialized (  -- read twice by latest_version: recomputing the filter is cheaper

    -- incremental: every version of the chats the new batches touch (their latest version may
    -- be new or, for a retried older export, still an earlier one); a full build takes all
    select source.*
    from source
    {% if is_incremental() %}
        where source.id in (
            select touched.id
            from source as touched
            where touched._batch_id in ({{ new_batches() }})
        )
    {% endif %}

),

latest as (

    {{ latest_version('candidates') }}

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
