-- Dashboard reporting: refreshed by refresh_reporting_views() (the seed's slow-dashboard fix).
create materialized view reporting_org_daily as
select org_id,
       (date_trunc('day', started_at at time zone 'UTC'))::date as day,
       count(*) as attempts,
       count(ended_at) as completed,
       round(avg(score), 2) as avg_score
from scenario_attempts
group by 1, 2;
create unique index reporting_org_daily_key on reporting_org_daily (org_id, day);

-- No unique index on purpose: this one cannot be refreshed CONCURRENTLY.
create materialized view reporting_scenario_stats as
select scenario_id,
       count(*) as attempts,
       round(avg(score), 2) as avg_score,
       max(ended_at) as last_completed_at
from scenario_attempts
group by 1;

create function refresh_reporting_views() returns void
language plpgsql as $$
begin
    refresh materialized view concurrently reporting_org_daily;
    refresh materialized view reporting_scenario_stats;
end;
$$;
