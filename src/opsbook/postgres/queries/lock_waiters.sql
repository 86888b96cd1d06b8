-- Sessions waiting on a lock right now, server-wide: from pg_locks, which every role reads
-- in full (pg_stat_activity hides other roles' wait events without pg_read_all_stats).
select count(distinct pid) as waiting from pg_locks where not granted and pid is not null
