-- A schema description for `opsbook drill` (backups/schema.py): the schemas, not the
-- system's, not an extension's own. Names are quoted as identifiers (format %I), so a
-- name holding a dot or a quote is still one name.
select format('%I', n.nspname) as name
from pg_namespace n
where n.nspname not in ('pg_catalog', 'information_schema')
  and n.nspname not like 'pg\_toast%'
  and n.nspname not like 'pg\_temp\_%'
  and not exists (
      select 1 from pg_depend d
      where d.classid = 'pg_namespace'::regclass and d.objid = n.oid and d.deptype = 'e'
  )
order by 1
