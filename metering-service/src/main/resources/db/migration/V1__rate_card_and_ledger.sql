-- Rate card. Every table is append-only: a change is a new row with a later effective_from, so the price
-- that rated a past request can always be read back. Money is an integer number of micro-units.

-- The flat price per request of a price tier (small, large, reasoning, ...).
create table tier_prices (
    tier           text        not null,
    version        integer     not null check (version >= 1),
    effective_from timestamptz not null,
    price_micros   bigint      not null check (price_micros >= 0),
    currency       text        not null check (currency ~ '^[A-Z]{3}$'),
    created_at     timestamptz not null,
    primary key (tier, version),
    unique (tier, effective_from)
);

-- A plan: a monthly fee that includes N billable requests a month; beyond them each request costs the
-- overage price, or its tier's price when the plan sets none.
create table plan_versions (
    plan_id              text        not null,
    version              integer     not null check (version >= 1),
    effective_from       timestamptz not null,
    monthly_fee_micros   bigint      not null check (monthly_fee_micros >= 0),
    included_requests    bigint      not null check (included_requests >= 0),
    overage_price_micros bigint      check (overage_price_micros >= 0),
    currency             text        not null check (currency ~ '^[A-Z]{3}$'),
    created_at           timestamptz not null,
    primary key (plan_id, version),
    unique (plan_id, effective_from)
);

-- Which plan an account is on from when. Accounts without a row are on the configured default plan.
create table account_plans (
    account_id     text        not null,
    effective_from timestamptz not null,
    plan_id        text        not null,
    created_at     timestamptz not null,
    primary key (account_id, effective_from)
);

-- The ledger: one row per usage event, ever (the primary key is the idempotency key). Non-billable
-- requests are kept with amount 0 so that request counts reconcile with the gateway's.
create table usage_ledger (
    event_id             text        primary key,
    account_id           text        not null,
    api_key_id           text        not null,
    model                text,
    price_tier           text,
    endpoint             text        not null,
    outcome              text        not null,
    billable             boolean     not null,
    occurred_at          timestamptz not null,
    usage_day            date        not null,
    billing_period       text        not null check (billing_period ~ '^[0-9]{4}-[0-9]{2}$'),
    plan_id              text,
    plan_version         integer,
    price_version        integer,
    price_effective_from timestamptz,
    unit_price_micros    bigint      check (unit_price_micros >= 0),
    amount_micros        bigint      not null check (amount_micros >= 0),
    currency             text,
    included_in_plan     boolean     not null,
    rated_at             timestamptz not null,
    source_partition     integer     not null,
    source_offset        bigint      not null,
    check (billable or (amount_micros = 0 and not included_in_plan)),
    check (not billable or (plan_id is not null and unit_price_micros is not null and currency is not null))
);
create index usage_ledger_account_time on usage_ledger (account_id, occurred_at);
-- For the "never rewrite history" check on a new price or plan version.
create index usage_ledger_tier_time on usage_ledger (price_tier, occurred_at);
create index usage_ledger_plan_time on usage_ledger (plan_id, occurred_at);

-- Per-account totals, updated in the transaction that writes the ledger rows they sum.
create table account_daily_totals (
    account_id        text   not null,
    usage_day         date   not null,
    requests          bigint not null,
    billable_requests bigint not null,
    included_requests bigint not null,
    amount_micros     bigint not null,
    primary key (account_id, usage_day)
);

create table account_monthly_totals (
    account_id        text   not null,
    billing_period    text   not null,
    requests          bigint not null,
    billable_requests bigint not null,
    included_requests bigint not null,
    amount_micros     bigint not null,
    primary key (account_id, billing_period)
);

-- Transactional outbox: the RatedUsage record of each billable event, written with its ledger row and
-- deleted once Kafka has acknowledged it. The payload is stored, so a re-send is byte-identical.
create sequence rated_usage_outbox_seq increment by 50;
create table rated_usage_outbox (
    id         bigint      primary key,
    event_id   text        not null unique,
    account_id text        not null,
    payload    text        not null,
    created_at timestamptz not null
);
