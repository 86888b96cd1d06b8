-- The worst replay lag of any attached replica, in seconds (0 with none).
select coalesce(max(extract(epoch from replay_lag)), 0)::float as seconds from pg_stat_replication
