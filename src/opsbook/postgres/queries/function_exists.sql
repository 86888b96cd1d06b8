-- A function callable with no arguments, by schema and name.
select p.oid::bigint as oid
from pg_proc p
join pg_namespace n on n.oid = p.pronamespace
where n.nspname = %(schema)s and p.proname = %(name)s and p.pronargs = 0
