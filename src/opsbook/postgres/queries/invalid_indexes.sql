-- Indexes left invalid (a failed CREATE INDEX CONCURRENTLY): they cost writes, serve nothing.
select n.nspname as schema, t.relname as table, c.relname as index,
       pg_relation_size(c.oid) as bytes
from pg_index i
join pg_class c on c.oid = i.indexrelid
join pg_class t on t.oid = i.indrelid
join pg_namespace n on n.oid = t.relnamespace
where not i.indisvalid
order by schema, index
