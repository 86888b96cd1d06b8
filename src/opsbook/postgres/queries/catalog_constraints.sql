-- Constraints of tables (primary and foreign keys, unique, check, exclusion) and of
-- domains, named after what they constrain.
select format('%I.%I.%I', n.nspname, coalesce(c.relname, t.typname), k.conname) as name,
       k.contype::text as type,
       pg_get_constraintdef(k.oid) as definition,
       k.condeferrable as deferrable,
       k.condeferred as deferred,
       k.convalidated as validated
from pg_constraint k
join pg_namespace n on n.oid = k.connamespace
left join pg_class c on c.oid = k.conrelid
left join pg_type t on t.oid = k.contypid
where (k.conrelid <> 0 or k.contypid <> 0)
  and n.nspname not in ('pg_catalog', 'information_schema')
  and n.nspname not like 'pg\_toast%'
  and n.nspname not like 'pg\_temp\_%'
  and not exists (
      select 1 from pg_depend d
      where d.objid in (k.conrelid, k.contypid) and d.deptype = 'e'
        and d.classid in ('pg_class'::regclass, 'pg_type'::regclass)
  )
order by 1
