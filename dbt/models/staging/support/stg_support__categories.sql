with

source as (

    select * from {{ source('support', 'categories') }}

),

latest as (

    {{ latest_version('source') }}

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
