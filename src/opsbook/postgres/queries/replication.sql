-- Replicas attached to this server and how far behind they are.
select application_name as replica,
       client_addr::text as client,
       state,
       extract(epoch from coalesce(replay_lag, '0'::interval))::float as replay_lag_seconds,
       pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::bigint as lag_bytes
from pg_stat_replication
