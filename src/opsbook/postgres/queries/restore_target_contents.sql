-- What a restore target holds beyond what an empty database holds: every schema but
-- public, the system's and the extensions' own, and every table, view, materialized view,
-- sequence or foreign table in public that no extension owns. Capped: the plan names a
-- few, and any one is enough to refuse.
select 'schema' as kind, n.nspname as schema, null::text as name
from pg_namespace n
where n.nspname not in ('public', 'pg_catalog', 'information_schema')
  and n.nspname not like 'pg\_toast%'
  and n.nspname not like 'pg\_temp\_%'
  and not exists (
      select 1 from pg_depend d
      where d.classid = 'pg_namespace'::regclass and d.objid = n.oid and d.deptype = 'e'
  )
union all
select 'relation', n.nspname, c.relname::text
from pg_class c
join pg_namespace n on n.oid = c.relnamespace
where n.nspname = 'public'
  and c.relkind in ('r', 'p', 'v', 'm', 'S', 'f')
  and not exists (
      select 1 from pg_depend d
      where d.classid = 'pg_class'::regclass and d.objid = c.oid and d.deptype = 'e'
  )
order by 1, 2, 3
limit 101
