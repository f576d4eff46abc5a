with

int_chats_localized as (

    select * from {{ ref('int_chats_localized') }}

),

volume_per_group as (

    -- a chat counts only when its own category is enabled after inheritance;
    -- chats without a (known) category have a null flag and are left out
    select
        category_group_id,
        count(*) as chats

    from int_chats_localized
    where
        is_customer_initiated
        and is_category_disabled = false
    group by category_group_id

),

final as (

    select
        category_group_id,
        chats,
        row_number() over (
            order by chats desc, cast(category_group_id as varchar) asc
        ) as volume_rank

    from volume_per_group

)

select * from final
