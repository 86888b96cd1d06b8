-- Client connections grouped by one dimension (state, user, application or client).
select coalesce(case %(group)s
                    when 'state' then state
                    when 'user' then usename::text
                    when 'application' then nullif(application_name, '')
                    when 'client' then host(client_addr)
                end, '(none)') as key,
       count(*) as connections,
       count(*) filter (where state = 'active') as active,
       count(*) filter (where state = 'idle') as idle,
       count(*) filter (where state like 'idle in transaction%%') as idle_in_transaction
from pg_stat_activity
where backend_type = 'client backend'
group by 1
order by connections desc, key
