-- Client sessions with what a responder needs to decide whether to end them. Another
-- role's session whose details this role cannot read (backend_type NULL, see
-- connection_states.sql) is listed as hidden, so that it is counted and never ended blind.
select a.pid,
       a.datname as database,
       a.usename as "user",
       coalesce(r.rolsuper, false) as superuser,
       a.application_name as application,
       host(a.client_addr) as client,
       a.backend_type,
       a.state,
       a.wait_event_type,
       a.wait_event,
       extract(epoch from now() - a.state_change)::float as state_seconds,
       extract(epoch from now() - a.query_start)::float as query_seconds,
       extract(epoch from now() - a.xact_start)::float as transaction_seconds,
       case when a.backend_type is not null then left(a.query, 500) end as query,
       a.pid = pg_backend_pid() as is_self,
       a.backend_type is null as hidden,
       -- Who may end it (pg_terminate_backend's rule): a superuser; else a role with that
       -- role's rights, or pg_signal_backend for a session no superuser owns.
       coalesce(pg_has_role(a.usesysid, 'USAGE')
                or (pg_has_role('pg_signal_backend', 'USAGE') and not r.rolsuper), false)
           as may_end
from pg_stat_activity a
left join pg_roles r on r.oid = a.usesysid
where a.backend_type = 'client backend'
   or (a.backend_type is null and a.usesysid is not null and a.datid is not null)
order by a.state_change nulls last, a.pid
