{#
    Batch ids published since the last successful build: what an incremental model must
    take in. Published batches whose build failed stay `published`, so the next build takes
    them again; a retried older batch is taken when it is published, whatever its seq.
#}
{% macro new_batches() %}
    select batch_id from {{ source('pipeline', 'batches') }}
    where stage = 'published'
{% endmacro %}
