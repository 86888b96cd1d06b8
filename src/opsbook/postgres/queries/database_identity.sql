-- Which database this is, however the connection string spelled its place: the cluster's
-- system identifier (random, set once by initdb) and the database's OID within it.
select (select system_identifier from pg_control_system())::text as cluster,
       d.oid::bigint as oid
from pg_database d
where d.datname = current_database()
