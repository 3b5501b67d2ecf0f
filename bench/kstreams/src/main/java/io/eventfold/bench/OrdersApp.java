package io.eventfold.bench;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.ObjectReader;
import com.fasterxml.jackson.databind.ObjectWriter;
import java.io.BufferedReader;
import java.io.BufferedWriter;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.serialization.Serializer;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.processor.StateRestoreListener;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.state.KeyValueStore;
import org.apache.kafka.streams.state.Stores;

/**
 * The Kafka Streams contender of `make bench`: folds the orders events topic
 * with a port of demo/orders.Evolve into a persistent (RocksDB) key-value
 * store with a changelog, caching on (the DSL's defaults), at_least_once.
 *
 * <pre>
 * OrdersApp run --bootstrap HOST:PORT --app-id ID --state-dir DIR [--topic T] [--threads N] [--commit-ms MS]
 * OrdersApp parity   &lt; lines "key TAB event-json"  &gt; lines "key TAB state-json" (first-seen key order)
 * </pre>
 *
 * run prints on stdout "progress &lt;unix ns&gt; &lt;events handled&gt;" every 250 ms,
 * "state &lt;unix ns&gt; &lt;STATE&gt;" on each state change, "restore-start &lt;unix ns&gt;
 * &lt;partition&gt; &lt;start&gt; &lt;end&gt;" and "restore-end &lt;unix ns&gt; &lt;partition&gt;
 * &lt;records&gt;" per changelog partition restored.
 */
public final class OrdersApp {
    static final String STORE = "orders-store";
    static final ObjectMapper MAPPER = new ObjectMapper()
            .configure(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, false);
    static final ObjectReader EVENT_READER = MAPPER.readerFor(Event.class);
    static final ObjectReader ORDER_READER = MAPPER.readerFor(Order.class);
    static final ObjectWriter ORDER_WRITER = MAPPER.writerFor(Order.class);
    static final AtomicLong HANDLED = new AtomicLong();
    static final AtomicLong SKIPPED = new AtomicLong();

    /** Serde of the state: Order as JSON, like eventfold's JSON state codec. */
    static final class OrderSerde implements Serde<Order>, Serializer<Order>, Deserializer<Order> {
        @Override public byte[] serialize(String topic, Order o) {
            if (o == null) return null;
            try {
                return ORDER_WRITER.writeValueAsBytes(o);
            } catch (IOException ex) {
                throw new IllegalStateException(ex);
            }
        }

        @Override public Order deserialize(String topic, byte[] b) {
            if (b == null) return null;
            try {
                return ORDER_READER.readValue(b);
            } catch (IOException ex) {
                throw new IllegalStateException(ex);
            }
        }

        @Override public void close() {}
        @Override public void configure(Map<String, ?> configs, boolean isKey) {}
        @Override public Serializer<Order> serializer() { return this; }
        @Override public Deserializer<Order> deserializer() { return this; }
    }

    /** The fold: decode the event, evolve the stored order, store it if the event applied. */
    static Order fold(Order cur, byte[] event) {
        Event e;
        try {
            e = EVENT_READER.readValue(event);
        } catch (IOException ex) {
            return null; // undecodable: skipped (eventfold dead-letters it)
        }
        return Order.evolve(cur, e);
    }

    static final class FoldProcessor implements Processor<String, byte[], Void, Void> {
        private KeyValueStore<String, Order> store;

        @Override public void init(ProcessorContext<Void, Void> ctx) {
            store = ctx.getStateStore(STORE);
        }

        @Override public void process(Record<String, byte[]> r) {
            try {
                if (r.key() == null || r.value() == null) return;
                Order next = fold(store.get(r.key()), r.value());
                if (next != null) store.put(r.key(), next);
                else SKIPPED.incrementAndGet();
            } finally {
                HANDLED.incrementAndGet();
            }
        }
    }

    static String arg(Map<String, String> a, String k, String def) {
        String v = a.get(k);
        if (v == null && def == null) throw new IllegalArgumentException("missing " + k);
        return v == null ? def : v;
    }

    static long now() {
        return System.currentTimeMillis() * 1_000_000L + (System.nanoTime() % 1_000_000L + 1_000_000L) % 1_000_000L;
    }

    public static void main(String[] argv) throws Exception {
        if (argv.length > 0 && argv[0].equals("parity")) {
            parity();
            return;
        }
        if (argv.length == 0 || !argv[0].equals("run")) {
            System.err.println("usage: OrdersApp run --bootstrap B --app-id ID --state-dir DIR [--topic T] [--threads N] [--commit-ms MS] | parity");
            System.exit(2);
        }
        Map<String, String> a = new HashMap<>();
        for (int i = 1; i + 1 < argv.length; i += 2) a.put(argv[i], argv[i + 1]);

        Properties p = new Properties();
        p.put(StreamsConfig.APPLICATION_ID_CONFIG, arg(a, "--app-id", "bench-kstreams"));
        p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, arg(a, "--bootstrap", null));
        p.put(StreamsConfig.STATE_DIR_CONFIG, arg(a, "--state-dir", null));
        p.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.AT_LEAST_ONCE);
        p.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, Integer.parseInt(arg(a, "--threads", "2")));
        p.put(StreamsConfig.REPLICATION_FACTOR_CONFIG, Integer.parseInt(arg(a, "--replication", "1")));
        if (a.containsKey("--commit-ms")) {
            p.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, Long.parseLong(a.get("--commit-ms")));
        }
        p.put(StreamsConfig.consumerPrefix("auto.offset.reset"), "earliest");

        StreamsBuilder b = new StreamsBuilder();
        b.addStateStore(Stores.keyValueStoreBuilder(Stores.persistentKeyValueStore(STORE), Serdes.String(), new OrderSerde())
                .withCachingEnabled()); // logging (the changelog) is on by default
        b.stream(arg(a, "--topic", "orders-events"), Consumed.with(Serdes.String(), Serdes.ByteArray()))
                .process(FoldProcessor::new, STORE);

        PrintStream out = new PrintStream(new java.io.FileOutputStream(java.io.FileDescriptor.out), true, StandardCharsets.UTF_8);
        KafkaStreams ks = new KafkaStreams(b.build(), p);
        CountDownLatch done = new CountDownLatch(1);
        ks.setStateListener((n, o) -> {
            out.println("state " + now() + " " + n);
            if (n == KafkaStreams.State.ERROR || n == KafkaStreams.State.NOT_RUNNING) done.countDown();
        });
        ks.setGlobalStateRestoreListener(new StateRestoreListener() {
            @Override public void onRestoreStart(TopicPartition tp, String store, long start, long end) {
                out.println("restore-start " + now() + " " + tp.partition() + " " + start + " " + end);
            }

            @Override public void onBatchRestored(TopicPartition tp, String store, long batchEnd, long n) {}

            @Override public void onRestoreEnd(TopicPartition tp, String store, long total) {
                out.println("restore-end " + now() + " " + tp.partition() + " " + total);
            }
        });
        Thread progress = new Thread(() -> {
            try {
                while (true) {
                    Thread.sleep(250);
                    out.println("progress " + now() + " " + HANDLED.get());
                }
            } catch (InterruptedException ex) {
                // shutting down
            }
        }, "progress");
        progress.setDaemon(true);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            // Leave the group like the Go contenders (sarama sends LeaveGroup on close):
            // a restarted instance then need not wait out the old member's session.
            ks.close(new KafkaStreams.CloseOptions().timeout(Duration.ofSeconds(60)).leaveGroup(true));
            out.println("progress " + now() + " " + HANDLED.get());
            done.countDown();
        }));
        progress.start();
        ks.start();
        done.await();
    }

    /** Folds "key TAB event" lines from stdin and prints each key's final state JSON. */
    static void parity() throws IOException {
        OrderSerde serde = new OrderSerde();
        Map<String, byte[]> table = new LinkedHashMap<>();
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        for (String line; (line = in.readLine()) != null; ) {
            int tab = line.indexOf('\t');
            if (tab < 0) continue;
            String key = line.substring(0, tab);
            byte[] stored = table.get(key);
            Order next = fold(stored == null ? null : serde.deserialize("", stored), line.substring(tab + 1).getBytes(StandardCharsets.UTF_8));
            if (next != null) table.put(key, serde.serialize("", next));
        }
        BufferedWriter w = new BufferedWriter(new OutputStreamWriter(System.out, StandardCharsets.UTF_8));
        for (Map.Entry<String, byte[]> e : table.entrySet()) {
            w.write(e.getKey());
            w.write('\t');
            w.write(new String(e.getValue(), StandardCharsets.UTF_8));
            w.write('\n');
        }
        w.flush();
    }
}
