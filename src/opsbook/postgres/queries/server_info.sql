-- Server version, uptime and the settings the runbook cares about.
select current_setting('server_version') as version,
       now() - pg_postmaster_start_time() as uptime,
       current_setting('max_connections')::int as max_connections,
       current_setting('superuser_reserved_connections')::int as reserved_connections,
       current_setting('statement_timeout') as statement_timeout,
       current_database() as database,
       pg_database_size(current_database()) as database_bytes,
       pg_is_in_recovery() as in_recovery
