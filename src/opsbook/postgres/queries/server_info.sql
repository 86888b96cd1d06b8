-- Server version, uptime and the settings the runbook cares about.
select current_setting('server_version') as version,
       now() - pg_postmaster_start_time() as uptime,
       current_setting('max_connections')::int as max_connections,
       current_setting('superuser_reserved_connections')::int as reserved_connections,
       -- reset_val: the database's own default, not whatever this session set for itself.
       (select reset_val::bigint from pg_settings where name = 'statement_timeout')
           as statement_timeout_ms,
       current_database() as database,
       pg_database_size(current_database()) as database_bytes,
       pg_is_in_recovery() as in_recovery
