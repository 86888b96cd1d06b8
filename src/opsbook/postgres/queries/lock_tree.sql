-- Every session that waits on a lock or holds one up: whom it waits on (pg_blocking_pids),
-- the lock it waits for, and the locks it holds that others wait for. pg_locks and
-- pg_blocking_pids are readable by every role, so the tree is whole even where
-- pg_stat_activity hides another role's details (then hidden, and its query NULL).
with locks as (
    select l.*,
           case when l.relation is not null and l.database = d.oid
                    then l.relation::regclass::text
                when l.relation is not null then 'relation ' || l.relation || ' of another database'
                when l.locktype = 'transactionid' then 'transaction ' || l.transactionid
                when l.locktype = 'virtualxid' then 'virtual transaction ' || l.virtualxid
                else l.locktype
           end as target
    from pg_locks l
    left join pg_database d on d.datname = current_database()
    where l.pid is not null
), waiting as (
    select a.pid, pg_blocking_pids(a.pid) as blocked_by
    from pg_stat_activity a
    where cardinality(pg_blocking_pids(a.pid)) > 0
), involved as (
    select pid from waiting
    union
    select unnest(blocked_by) from waiting
), holds as (
    -- The granted locks of a blocker on the very object one of its waiters asks for.
    select h.pid, jsonb_agg(distinct jsonb_build_object('mode', h.mode, 'target', h.target))
               as holds
    from locks w
    join locks h
      on h.granted and h.pid <> w.pid
     and (h.locktype, h.database, h.relation, h.page, h.tuple, h.virtualxid, h.transactionid,
          h.classid, h.objid, h.objsubid)
         is not distinct from
         (w.locktype, w.database, w.relation, w.page, w.tuple, w.virtualxid, w.transactionid,
          w.classid, w.objid, w.objsubid)
    where not w.granted and h.pid = any(pg_blocking_pids(w.pid))
    group by h.pid
)
select i.pid,
       a.datname as database,
       a.usename as "user",
       a.application_name as application,
       a.pid is not null and a.backend_type is null as hidden,
       -- pid 0 in pg_blocking_pids: a prepared transaction holds the lock.
       case when i.pid = 0 then 'prepared transaction' else a.state end as state,
       case when a.backend_type is not null then left(a.query, 300) end as query,
       coalesce(w.blocked_by, '{}') as blocked_by,
       -- waitstart: when this lock wait began (PostgreSQL 14+), readable by every role.
       case when l.pid is not null
            then extract(epoch from now() - coalesce(l.waitstart, a.query_start))::float
       end as waiting_seconds,
       l.mode as lock_mode,
       l.target as lock_target,
       coalesce(h.holds, '[]') as holds
from involved i
left join pg_stat_activity a on a.pid = i.pid
left join waiting w on w.pid = i.pid
left join locks l on l.pid = i.pid and not l.granted
left join holds h on h.pid = i.pid
order by i.pid
