-- Share of block reads served from shared buffers, this database.
select blks_hit, blks_read,
       case when blks_hit + blks_read = 0 then null
            else blks_hit::float / (blks_hit + blks_read) end as ratio
from pg_stat_database
where datname = current_database()
