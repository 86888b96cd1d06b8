-- Whether a table exists (and what it is), looked up by name as data, never as SQL text.
select c.oid::bigint as oid, c.relkind as kind
from pg_class c
join pg_namespace n on n.oid = c.relnamespace
where n.nspname = %(schema)s and c.relname = %(table)s
