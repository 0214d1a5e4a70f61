-- The relay's batch that holds a row between its claim and its deletion: set while the row may be in a Kafka
-- transaction, so the next relay term knows which rows to delete (published) and which to release.
alter table rated_usage_outbox add column relay_batch text;
create index rated_usage_outbox_relay_batch on rated_usage_outbox (relay_batch) where relay_batch is not null;
