-- Global IP denials reach the audit log aggregated per address and minute
-- (issue 15). One row per address-minute: the instance whose insert wins
-- writes the one audit row (with its count); the others only add theirs
-- here. The janitor deletes rows older than a day.
create table ip_denials (
    ip text not null,
    minute bigint not null,
    count bigint not null,
    primary key (ip, minute)
);
