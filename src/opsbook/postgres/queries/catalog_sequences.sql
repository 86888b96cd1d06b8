-- Sequences and their values. `last_value` is null when the sequence has handed out
-- nothing since it was made or set (or this role may not read it, as pg_sequences does).
-- A sequence is not transactional: its value is the one of the moment it is read, even
-- inside a snapshot.
select format('%I.%I', n.nspname, c.relname) as name,
       format_type(s.seqtypid, null) as type,
       s.seqstart as start,
       s.seqmin as min,
       s.seqmax as max,
       s.seqincrement as increment,
       s.seqcycle as cycle,
       s.seqcache as cache,
       case when has_sequence_privilege(c.oid, 'SELECT,USAGE')
            then pg_sequence_last_value(c.oid) end as last_value
from pg_sequence s
join pg_class c on c.oid = s.seqrelid
join pg_namespace n on n.oid = c.relnamespace
where n.nspname not in ('pg_catalog', 'information_schema')
  and n.nspname not like 'pg\_temp\_%'
  and not exists (
      select 1 from pg_depend d
      where d.classid = 'pg_class'::regclass and d.objid = c.oid and d.deptype = 'e'
  )
order by 1
