{{ config(materialized='incremental', unique_key='chat_id', incremental_strategy='delete+insert') }}

with

-- read more than once below: not materialized, or DuckDB (1.1+) copies all of raw.chats,
-- messages and all, into a temporary result first (3 s of a micro-batch at 5M chats)
source as not materialized (

    select * from {{ source('support', 'chats') }}

),

{% if is_incremental() %}

    -- incremental: the chats whose latest version came with the new batches. The winners are
    -- found from two narrow columns of the history; only the winning rows are then read whole,
    -- from the new batches: staging's zone maps on _batch_id skip the history, messages included
    -- (filtering whole rows by id read every message of the history, 1.1 s of a 10k-chat batch at
    -- 5M chats). A touched chat whose latest version is still an earlier one (a retried older
    -- export) is not in the result, so delete+insert leaves its row, that version, as it is.
    touched as (

        select distinct source.id
        from source
        where source._batch_id in ({{ new_batches() }})

    ),

    winners as (

        select
            source.id as latest_key,
            max({{ version_position('source') }}) as latest_position
        from source
        where source.id in (select touched.id from touched)
        group by source.id

    ),

    latest as (

        select source.*
        from source
        semi join winners
            on
                source.id = winners.latest_key
                and {{ version_position('source') }} = winners.latest_position
        where source._batch_id in ({{ new_batches() }})

    ),

{% else %}

    latest as (

        {{ latest_version('source') }}

    ),

{% endif %}

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
