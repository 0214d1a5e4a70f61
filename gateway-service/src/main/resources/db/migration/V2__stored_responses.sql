-- The Responses API's stored responses (store: true, the API's default): what GET /v1/responses/{id} returns and what
-- a later request continues from with previous_response_id. Only the account that made a response sees it; rows
-- past expires_at are invisible and purged in the background (flatfare.gateway.responses.retention).
-- The documents are json, not jsonb: jsonb refuses the character U+0000, which a model's output may hold.
create table stored_responses (
    id          text        primary key,
    account_id  text        not null references accounts (id) on delete cascade,
    created_at  timestamptz not null,
    expires_at  timestamptz not null,
    -- The response object as it was answered.
    response    json        not null,
    -- This response's own input items, as GET /v1/responses/{id}/input_items lists them.
    input_items json        not null,
    -- The conversation a follow-up continues: earlier turns, this input and this output ({role, content} each);
    -- instructions are not carried over, as in OpenAI's API.
    context     json        not null
);

create index stored_responses_expiry on stored_responses (expires_at);
