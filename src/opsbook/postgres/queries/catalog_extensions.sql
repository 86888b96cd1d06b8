-- Installed extensions, their version and schema.
select format('%I', e.extname) as name,
       e.extversion as version,
       format('%I', n.nspname) as schema
from pg_extension e
join pg_namespace n on n.oid = e.extnamespace
order by 1
