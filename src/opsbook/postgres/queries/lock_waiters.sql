-- Sessions waiting on a lock right now, server-wide.
select count(*) as waiting from pg_stat_activity where wait_event_type = 'Lock'
