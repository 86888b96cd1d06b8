-- Who waits on a lock and who holds them up.
select blocked.pid as blocked_pid,
       left(blocked.query, 300) as blocked_query,
       extract(epoch from now() - blocked.query_start)::float as waiting_seconds,
       blocking.pid as blocking_pid,
       blocking.state as blocking_state,
       left(blocking.query, 300) as blocking_query
from pg_stat_activity blocked
join lateral unnest(pg_blocking_pids(blocked.pid)) as b(pid) on true
join pg_stat_activity blocking on blocking.pid = b.pid
where cardinality(pg_blocking_pids(blocked.pid)) > 0
order by blocked.query_start
