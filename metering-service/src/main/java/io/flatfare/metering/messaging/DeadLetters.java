package io.flatfare.metering.messaging;

import io.flatfare.contracts.events.Topics;
import io.smallrye.mutiny.Uni;
import io.smallrye.reactive.messaging.MutinyEmitter;
import io.smallrye.reactive.messaging.kafka.api.OutgoingKafkaRecordMetadata;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.eclipse.microprofile.reactive.messaging.Channel;
import org.eclipse.microprofile.reactive.messaging.Message;
import org.eclipse.microprofile.reactive.messaging.OnOverflow;

/**
 * Sends usage records metering can never accept to {@link Topics#USAGE_DLQ}: key, value and headers as
 * received, plus the {@code dead-letter-*} headers saying why and where from.
 */
@ApplicationScoped
public class DeadLetters {

    /** A rejected record and why; {@code cause} is a short category such as {@code schema}. */
    public record DeadLetter(ConsumerRecord<byte[], byte[]> record, String cause, String reason) {}

    private static final Duration SEND_TIMEOUT = Duration.ofSeconds(60);

    @Inject
    @Channel("usage-dlq")
    @OnOverflow(OnOverflow.Strategy.UNBOUNDED_BUFFER)
    MutinyEmitter<byte[]> emitter;

    /** Sends them all and returns once Kafka has acknowledged each, so the offsets may then be committed. */
    public void send(List<DeadLetter> letters) {
        if (letters.isEmpty()) {
            return;
        }
        List<Uni<Void>> sends =
                letters.stream().map(l -> emitter.sendMessage(message(l))).toList();
        Uni.join().all(sends).andFailFast().await().atMost(SEND_TIMEOUT);
    }

    private static Message<byte[]> message(DeadLetter letter) {
        ConsumerRecord<byte[], byte[]> record = letter.record();
        RecordHeaders headers = new RecordHeaders(record.headers().toArray());
        headers.add(Topics.DLQ_REASON, utf8(letter.reason()));
        headers.add(Topics.DLQ_CAUSE, utf8(letter.cause()));
        headers.add(Topics.DLQ_TOPIC, utf8(record.topic()));
        headers.add(Topics.DLQ_PARTITION, utf8(Integer.toString(record.partition())));
        headers.add(Topics.DLQ_OFFSET, utf8(Long.toString(record.offset())));
        // A message cannot carry a null payload; an empty value stands for a tombstone.
        byte[] value = record.value() == null ? new byte[0] : record.value();
        return Message.of(value)
                .addMetadata(OutgoingKafkaRecordMetadata.<byte[]>builder()
                        .withKey(record.key())
                        .withHeaders(headers)
                        .build());
    }

    private static byte[] utf8(String value) {
        return value.getBytes(StandardCharsets.UTF_8);
    }
}
