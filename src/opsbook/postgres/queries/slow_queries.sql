-- Active queries running longer than a threshold, longest first (the runbook's step 3),
-- server-wide: each says its database, whether that is another one than ours, and which
-- sessions it waits on (pg_blocking_pids: empty unless it waits on a lock).
select pid,
       usename as "user",
       application_name as application,
       extract(epoch from now() - query_start)::float as seconds,
       wait_event_type,
       left(query, 500) as query,
       datname as database,
       datname is distinct from current_database() as other_database,
       pg_blocking_pids(pid) as blocked_by
from pg_stat_activity
where state = 'active'
  and backend_type = 'client backend'
  and pid <> pg_backend_pid()
  and now() - query_start >= make_interval(secs => %(min_seconds)s)
order by query_start
limit %(limit)s
