-- Rated usage now leaves in the Kafka transaction that commits the usage offsets (see the README); the outbox
-- goes. A row still in it was never published: refuse to drop it rather than lose it (let the previous release
-- drain its outbox first).
do $$
begin
    if exists (select 1 from rated_usage_outbox) then
        raise exception 'rated_usage_outbox still holds unpublished rated usage: run the previous release until it is empty';
    end if;
end $$;
drop table rated_usage_outbox;
drop sequence rated_usage_outbox_seq;
