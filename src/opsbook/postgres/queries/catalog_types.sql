-- Enums (their labels in order) and domains (their base type, nullability, default).
select format('%I.%I', n.nspname, t.typname) as name,
       t.typtype::text as kind,
       case when t.typtype = 'e' then (
           select string_agg(quote_literal(e.enumlabel), ', ' order by e.enumsortorder)
           from pg_enum e where e.enumtypid = t.oid
       ) end as labels,
       case when t.typtype = 'd' then format_type(t.typbasetype, t.typtypmod) end as base,
       t.typnotnull as not_null,
       t.typdefault as default
from pg_type t
join pg_namespace n on n.oid = t.typnamespace
where t.typtype in ('e', 'd')
  and n.nspname not in ('pg_catalog', 'information_schema')
  and n.nspname not like 'pg\_toast%'
  and n.nspname not like 'pg\_temp\_%'
  and not exists (
      select 1 from pg_depend d
      where d.classid = 'pg_type'::regclass and d.objid = t.oid and d.deptype = 'e'
  )
order by 1
