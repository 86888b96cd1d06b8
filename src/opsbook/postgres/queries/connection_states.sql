-- Client connections across the server by state; waiting = waiting on a lock.
select count(*) as total,
       count(*) filter (where state = 'active') as active,
       count(*) filter (where state = 'idle') as idle,
       count(*) filter (where state in ('idle in transaction', 'idle in transaction (aborted)'))
           as idle_in_transaction,
       count(*) filter (where wait_event_type = 'Lock') as waiting
from pg_stat_activity
where backend_type = 'client backend'
