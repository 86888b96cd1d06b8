-- Tables, views, materialized views and foreign tables, with what defines them: a view's
-- query as the server prints it, a materialized view's and whether it holds rows.
select format('%I.%I', n.nspname, c.relname) as name,
       c.relkind::text as relkind,
       c.relpersistence::text as persistence,
       case when c.relkind in ('v', 'm') then pg_get_viewdef(c.oid, true) end as definition,
       case when c.relkind = 'm' then c.relispopulated end as populated
from pg_class c
join pg_namespace n on n.oid = c.relnamespace
where c.relkind in ('r', 'p', 'v', 'm', 'f')
  and n.nspname not in ('pg_catalog', 'information_schema')
  and n.nspname not like 'pg\_toast%'
  and n.nspname not like 'pg\_temp\_%'
  and not exists (
      select 1 from pg_depend d
      where d.classid = 'pg_class'::regclass and d.objid = c.oid and d.deptype = 'e'
  )
order by 1
