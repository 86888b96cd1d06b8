-- The tables whose rows pg_dump writes: ordinary tables and partitions (a partitioned
-- parent holds none itself), not the system's, not an extension's own. `estimate` is
-- the planner's row count (-1: never analyzed), used only to bound content checksums.
select n.nspname as schema, c.relname as name, c.reltuples::bigint as estimate
from pg_class c
join pg_namespace n on n.oid = c.relnamespace
where c.relkind = 'r'
  and n.nspname not in ('pg_catalog', 'information_schema')
  and n.nspname not like 'pg\_toast%'
  and n.nspname not like 'pg\_temp\_%'
  and not exists (
      select 1 from pg_depend d
      where d.classid = 'pg_class'::regclass and d.objid = c.oid and d.deptype = 'e'
  )
order by n.nspname, c.relname
