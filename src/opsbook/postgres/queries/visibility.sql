-- What this role may read and end of other roles' sessions. Without pg_read_all_stats
-- (pg_monitor includes it) pg_stat_activity shows another role's session with its pid,
-- user, database and application only: state, query, times, waits and even backend_type
-- are NULL. Ending another role's session needs pg_signal_backend (or that role's rights).
select current_user as role,
       quote_ident(current_user) as quoted_role,
       pg_has_role(current_user, 'pg_read_all_stats', 'USAGE') as sees_all,
       pg_has_role(current_user, 'pg_signal_backend', 'USAGE') as ends_others
