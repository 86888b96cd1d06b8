-- Every index of a user table or materialized view, as CREATE INDEX would make it again.
select format('%I.%I', n.nspname, i.relname) as name,
       format('%I.%I', n.nspname, t.relname) as "table",
       pg_get_indexdef(i.oid) as definition
from pg_index x
join pg_class i on i.oid = x.indexrelid
join pg_class t on t.oid = x.indrelid
join pg_namespace n on n.oid = i.relnamespace
where n.nspname not in ('pg_catalog', 'information_schema')
  and n.nspname not like 'pg\_toast%'
  and n.nspname not like 'pg\_temp\_%'
  and not exists (
      select 1 from pg_depend d
      where d.classid = 'pg_class'::regclass and d.objid = t.oid and d.deptype = 'e'
  )
order by 1
