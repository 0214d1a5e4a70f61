-- Plans: what an account may use and how much. A null limit means "no limit".
create table plans (
    id                  text        primary key,
    requests_per_minute integer     check (requests_per_minute > 0),
    concurrent_requests integer     check (concurrent_requests > 0),
    requests_per_month  bigint      check (requests_per_month > 0),
    max_prompt_chars    integer     check (max_prompt_chars > 0),
    max_output_tokens   integer     check (max_output_tokens > 0),
    created_at          timestamptz not null,
    updated_at          timestamptz not null
);

-- Canonical model ids the plan may use; the single value '*' allows every model.
create table plan_allowed_models (
    plan_id  text not null references plans (id) on delete cascade,
    model_id text not null,
    primary key (plan_id, model_id)
);

-- Price tiers whose models the plan may use, in addition to the models listed above.
create table plan_allowed_tiers (
    plan_id    text not null references plans (id) on delete cascade,
    price_tier text not null,
    primary key (plan_id, price_tier)
);

-- Accounts: the billed party. The id is the one every usage event and the metering ledger carry.
create table accounts (
    id         text        primary key,
    name       text        not null,
    plan_id    text        not null references plans (id),
    disabled   boolean     not null default false,
    created_at timestamptz not null,
    updated_at timestamptz not null
);
create index accounts_plan_id on accounts (plan_id);

-- API keys. The secret itself is never stored: only its SHA-256 (to look a presented key up) and a short
-- visible prefix (so an operator can tell keys apart). A plain SHA-256 is enough because every key holds
-- 256 random bits: there is no dictionary to try, so a slow password hash would only slow each lookup.
create table api_keys (
    id         text        primary key,
    account_id text        not null references accounts (id),
    name       text        not null,
    prefix     text        not null,
    hash       text        not null unique check (hash ~ '^[0-9a-f]{64}$'),
    created_at timestamptz not null,
    expires_at timestamptz,
    revoked_at timestamptz
);
create index api_keys_account_id on api_keys (account_id);

-- Default plans, changed through /admin/plans (this migration runs once).
-- developer: for trying the platform; every model, but small enough that a leaked key costs little.
-- standard: a production account; every model, limits sized for one busy application.
insert into plans (id, requests_per_minute, concurrent_requests, requests_per_month, max_prompt_chars,
                   max_output_tokens, created_at, updated_at)
values ('developer', 60, 4, 10000, 100000, 4096, now(), now()),
       ('standard', 600, 32, 1000000, 400000, 16384, now(), now());

insert into plan_allowed_models (plan_id, model_id)
values ('developer', '*'),
       ('standard', '*');
