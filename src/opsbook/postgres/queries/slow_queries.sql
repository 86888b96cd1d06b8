-- Active queries running longer than a threshold, longest first (the runbook's step 3).
select pid,
       usename as "user",
       application_name as application,
       extract(epoch from now() - query_start)::float as seconds,
       wait_event_type,
       left(query, 500) as query
from pg_stat_activity
where state = 'active'
  and backend_type = 'client backend'
  and pid <> pg_backend_pid()
  and now() - query_start >= make_interval(secs => %(min_seconds)s)
order by query_start
limit %(limit)s
