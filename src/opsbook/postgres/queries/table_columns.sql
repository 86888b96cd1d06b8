-- Columns of one table, in order, with their full types.
select a.attname as name, format_type(a.atttypid, a.atttypmod) as type, a.attnotnull as not_null
from pg_attribute a
join pg_class c on c.oid = a.attrelid
join pg_namespace n on n.oid = c.relnamespace
where n.nspname = %(schema)s and c.relname = %(table)s
  and a.attnum > 0 and not a.attisdropped
order by a.attnum
