-- The primary-key columns of a table, in key order.
select a.attname as name
from pg_constraint k
join lateral unnest(k.conkey) with ordinality as key(attnum, position) on true
join pg_attribute a on a.attrelid = k.conrelid and a.attnum = key.attnum
where k.conrelid = %(oid)s::oid and k.contype = 'p'
order by key.position
