-- The statements that cost this database most since pg_stat_statements was last reset
-- (a quarter's review reads a quarter's totals, not what happens to run now). {stats} is
-- the view in whichever schema the extension lives ("extensions" on Supabase).
select s.queryid::text as queryid,
       left(s.query, 500) as query,
       s.calls,
       round(s.total_exec_time::numeric, 1)::float as total_ms,
       round(s.mean_exec_time::numeric, 1)::float as mean_ms,
       s.rows
from {stats} s
where s.dbid = (select oid from pg_database where datname = current_database())
order by s.total_exec_time desc
limit %(limit)s
