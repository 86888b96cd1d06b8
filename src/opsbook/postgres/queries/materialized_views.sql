-- Materialized views with size, whether populated, and whether they can refresh
-- CONCURRENTLY (that needs a valid unique index on plain columns, without WHERE).
select n.nspname as schema, c.relname as name,
       pg_total_relation_size(c.oid) as bytes,
       c.relispopulated as populated,
       exists (select 1 from pg_index i
               where i.indrelid = c.oid and i.indisunique and i.indisvalid
                 and i.indpred is null and i.indexprs is null) as unique_index
from pg_class c
join pg_namespace n on n.oid = c.relnamespace
where c.relkind = 'm'
order by schema, name
