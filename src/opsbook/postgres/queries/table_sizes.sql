-- Tables and materialized views with their heap, index and TOAST sizes.
select n.nspname as schema,
       c.relname as name,
       case c.relkind when 'm' then 'materialized view' else 'table' end as kind,
       pg_relation_size(c.oid) as table_bytes,
       pg_indexes_size(c.oid) as index_bytes,
       coalesce(pg_total_relation_size(c.reltoastrelid), 0) as toast_bytes,
       pg_total_relation_size(c.oid) as total_bytes,
       c.reltuples::bigint as estimated_rows
from pg_class c
join pg_namespace n on n.oid = c.relnamespace
where c.relkind in ('r', 'p', 'm')
  and n.nspname not in ('pg_catalog', 'information_schema')
  and n.nspname not like 'pg_toast%%'
order by total_bytes desc, schema, name
limit %(limit)s
