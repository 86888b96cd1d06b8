-- Client connections grouped by one dimension (state, user, application or client).
-- Another role's session whose details this role cannot read (backend_type NULL, see
-- connection_states.sql) still shows its user and application; its state and client
-- address count as '(hidden)'.
select coalesce(case %(group)s
                    when 'state' then state
                    when 'user' then usename::text
                    when 'application' then nullif(application_name, '')
                    when 'client' then host(client_addr)
                end,
                case when backend_type is null and %(group)s in ('state', 'client')
                     then '(hidden)' end,
                '(none)') as key,
       count(*) as connections,
       count(*) filter (where state = 'active') as active,
       count(*) filter (where state = 'idle') as idle,
       count(*) filter (where state like 'idle in transaction%%') as idle_in_transaction,
       count(*) filter (where backend_type is null) as hidden
from pg_stat_activity
where backend_type = 'client backend'
   or (backend_type is null and usesysid is not null and datid is not null)
group by 1
order by connections desc, key
