-- Sequences by how much of their range is used.
select schemaname as schema, sequencename as sequence, data_type::text as type,
       last_value, max_value,
       case when last_value is null then 0
            else last_value::float / max_value end as used
from pg_sequences
where schemaname not in ('pg_catalog', 'information_schema')
order by used desc, schema, sequence
