-- Client connections across the server by state; waiting = waiting on a lock. Another
-- role's session, without pg_read_all_stats, shows NULL for backend_type and state: one with
-- a user and a database is counted as a client connection (in total and hidden), not
-- dropped. Lock waits are read from pg_locks, which every role reads in full.
select count(*) as total,
       count(*) filter (where state = 'active') as active,
       count(*) filter (where state = 'idle') as idle,
       count(*) filter (where state in ('idle in transaction', 'idle in transaction (aborted)'))
           as idle_in_transaction,
       count(*) filter (where pid in (select pid from pg_locks where not granted)) as waiting,
       count(*) filter (where backend_type is null) as hidden
from pg_stat_activity
where backend_type = 'client backend'
   or (backend_type is null and usesysid is not null and datid is not null)
