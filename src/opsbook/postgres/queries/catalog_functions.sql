-- Functions and procedures, named with their argument types; the body by its md5 (a
-- difference is named, not printed), with what else changes how a call behaves.
select format('%I.%I(%s)', n.nspname, p.proname, pg_get_function_identity_arguments(p.oid))
           as name,
       p.prokind::text as kind,
       pg_get_function_result(p.oid) as result,
       l.lanname as language,
       p.provolatile::text as volatility,
       p.proisstrict as strict,
       p.prosecdef as security_definer,
       p.proconfig::text as config,
       md5(p.prosrc) as body_md5
from pg_proc p
join pg_namespace n on n.oid = p.pronamespace
join pg_language l on l.oid = p.prolang
where n.nspname not in ('pg_catalog', 'information_schema')
  and n.nspname not like 'pg\_toast%'
  and n.nspname not like 'pg\_temp\_%'
  and not exists (
      select 1 from pg_depend d
      where d.classid = 'pg_proc'::regclass and d.objid = p.oid and d.deptype = 'e'
  )
order by 1
