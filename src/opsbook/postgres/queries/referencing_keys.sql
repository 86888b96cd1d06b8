-- Foreign keys in other tables that point at this table: their columns, and the columns of
-- this table they point at (the primary key, or another unique key), in the same order.
select n.nspname as schema, c.relname as table, k.conname as constraint,
       array_agg(a.attname order by key.position) as columns,
       array_agg(r.attname order by key.position) as referenced
from pg_constraint k
join pg_class c on c.oid = k.conrelid
join pg_namespace n on n.oid = c.relnamespace
join lateral unnest(k.conkey, k.confkey) with ordinality as key(attnum, refnum, position) on true
join pg_attribute a on a.attrelid = k.conrelid and a.attnum = key.attnum
join pg_attribute r on r.attrelid = k.confrelid and r.attnum = key.refnum
where k.confrelid = %(oid)s::oid and k.contype = 'f' and k.conrelid <> k.confrelid
group by n.nspname, c.relname, k.conname
order by 1, 2, 3
