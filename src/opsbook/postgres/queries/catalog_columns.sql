-- Every column of those relations: its type, default, nullability, identity and
-- generation. Position is left out: a column dropped in the source leaves a gap that a
-- restore closes, and the order of the rest is kept by pg_dump.
select format('%I.%I.%I', n.nspname, c.relname, a.attname) as name,
       format_type(a.atttypid, a.atttypmod) as type,
       a.attnotnull as not_null,
       pg_get_expr(ad.adbin, ad.adrelid) as default,
       nullif(a.attidentity::text, '') as identity,
       nullif(a.attgenerated::text, '') as generated
from pg_attribute a
join pg_class c on c.oid = a.attrelid
join pg_namespace n on n.oid = c.relnamespace
left join pg_attrdef ad on ad.adrelid = a.attrelid and ad.adnum = a.attnum
where a.attnum > 0
  and not a.attisdropped
  and c.relkind in ('r', 'p', 'v', 'm', 'f')
  and n.nspname not in ('pg_catalog', 'information_schema')
  and n.nspname not like 'pg\_toast%'
  and n.nspname not like 'pg\_temp\_%'
  and not exists (
      select 1 from pg_depend d
      where d.classid = 'pg_class'::regclass and d.objid = c.oid and d.deptype = 'e'
  )
order by 1
