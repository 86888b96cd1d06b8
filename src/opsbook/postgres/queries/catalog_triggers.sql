-- Triggers a person made (not the internal ones behind foreign keys), as CREATE TRIGGER
-- would make them again, and whether they fire.
select format('%I.%I.%I', n.nspname, c.relname, t.tgname) as name,
       pg_get_triggerdef(t.oid) as definition,
       t.tgenabled::text as enabled
from pg_trigger t
join pg_class c on c.oid = t.tgrelid
join pg_namespace n on n.oid = c.relnamespace
where not t.tgisinternal
  and n.nspname not in ('pg_catalog', 'information_schema')
  and n.nspname not like 'pg\_toast%'
  and n.nspname not like 'pg\_temp\_%'
  and not exists (
      select 1 from pg_depend d
      where d.classid = 'pg_class'::regclass and d.objid = c.oid and d.deptype = 'e'
  )
order by 1
