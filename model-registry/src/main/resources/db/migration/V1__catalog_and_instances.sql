-- The model catalog. Ids are never reused: retiring a model keeps its row (and its aliases reserved).
create table models (
    id                text        primary key,
    display_name      text        not null,
    owned_by          text        not null,
    context_length    integer     not null check (context_length > 0),
    max_output_tokens integer     not null check (max_output_tokens > 0 and max_output_tokens <= context_length),
    price_tier        text        not null,
    status            text        not null check (status in ('ACTIVE', 'RETIRED')),
    created_at        timestamptz not null,
    updated_at        timestamptz not null,
    version           bigint      not null default 0
);

-- An alias belongs to exactly one model; the primary key makes a collision between aliases impossible.
create table model_aliases (
    alias    text primary key,
    model_id text not null references models (id) on delete cascade
);
create index model_aliases_model_id on model_aliases (model_id);

create table model_capabilities (
    model_id   text not null references models (id) on delete cascade,
    capability text not null check (capability in ('CHAT', 'COMPLETION', 'EMBEDDINGS', 'TRANSCRIPTION', 'IMAGE')),
    primary key (model_id, capability)
);

-- Live inference instances. Rows whose last heartbeat is older than the TTL are never routed to and
-- are deleted by the reaper.
create table inference_instances (
    id             text        primary key,
    grpc_address   text        not null,
    slots          integer     not null check (slots > 0),
    state          text        not null check (state in ('STARTING', 'READY', 'DRAINING')),
    last_heartbeat timestamptz not null,
    registered_at  timestamptz not null
);
create index inference_instances_last_heartbeat on inference_instances (last_heartbeat);

create table instance_models (
    instance_id text not null references inference_instances (id) on delete cascade,
    model_id    text not null references models (id),
    primary key (instance_id, model_id)
);
create index instance_models_model_id on instance_models (model_id);
