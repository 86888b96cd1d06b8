-- Transaction-ID age of the oldest database: wraparound forces a shutdown at 2^31.
select datname as database, age(datfrozenxid)::bigint as xid_age,
       age(datfrozenxid)::float / 2147483648 as used
from pg_database
where datallowconn
order by age(datfrozenxid) desc
limit 1
