-- Indexes never scanned since statistics were reset, excluding unique and primary keys.
select s.schemaname as schema, s.relname as table, s.indexrelname as index,
       s.idx_scan as scans, pg_relation_size(s.indexrelid) as bytes
from pg_stat_user_indexes s
join pg_index i on i.indexrelid = s.indexrelid
where s.idx_scan = 0
  and not i.indisunique
  and not i.indisprimary
order by bytes desc, schema, index
