-- Indexes whose columns are a leading prefix of another index on the same table.
select n.nspname as schema, t.relname as table,
       ci.relname as index, cc.relname as covered_by,
       pg_relation_size(i.indexrelid) as bytes
from pg_index i
join pg_index c on c.indrelid = i.indrelid and c.indexrelid <> i.indexrelid
join pg_class ci on ci.oid = i.indexrelid
join pg_class cc on cc.oid = c.indexrelid
join pg_class t on t.oid = i.indrelid
join pg_namespace n on n.oid = t.relnamespace
join pg_am ai on ai.oid = ci.relam
join pg_am ac on ac.oid = cc.relam
where n.nspname not in ('pg_catalog', 'information_schema')
  and ai.amname = ac.amname
  and not i.indisunique
  and i.indpred is null and c.indpred is null
  and i.indexprs is null and c.indexprs is null
  -- indkey as text is "2 3": a prefix of the columns, or the same columns (keep the older).
  and (c.indkey::text like i.indkey::text || ' %%'
       or (c.indkey::text = i.indkey::text and i.indexrelid > c.indexrelid))
order by schema, "table", index
