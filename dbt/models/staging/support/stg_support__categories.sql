with

source as (

    select * from {{ source('support', 'categories') }}

),

latest as (

    -- raw is append-only: a later batch re-exports a category with its new state
    select *
    from source
    qualify row_number() over (
        partition by id
        order by _batch_seq desc, _line_number desc
    ) = 1

),

final as (

    select
        id as category_id,
        parent_id as parent_category_id,
        disabled,
        _batch_id as batch_id

    from latest

)

select * from final
