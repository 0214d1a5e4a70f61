-- The context (prompt + output tokens of one request) an instance serves each of its models with. It can be smaller
-- than the catalog's context_length (a pool configured with less memory per slot); instances registered before this
-- column existed are taken to serve the catalog's.
alter table instance_models add column context_length integer check (context_length > 0);
update instance_models im set context_length = m.context_length from models m where m.id = im.model_id;
alter table instance_models alter column context_length set not null;
