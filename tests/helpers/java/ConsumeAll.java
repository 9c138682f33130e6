// Kafka's own Java consumer (kafka-clients) reading a whole topic, an
// independent reader for the tests: it checks each batch's CRC and
// decompresses it with the codecs the broker ships. Writes every record as
// [key length][key][value length][value] (4-byte big-endian lengths) to OUT.
// Run with the broker's classpath:
//   java -cp CLASSPATH ConsumeAll.java BOOTSTRAP TOPIC OUT
import java.io.DataOutputStream;
import java.io.FileOutputStream;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

public class ConsumeAll {
  public static void main(String[] args) throws Exception {
    Properties props = new Properties();
    props.put("bootstrap.servers", args[0]);
    props.put("enable.auto.commit", "false");
    props.put("check.crcs", "true");
    try (KafkaConsumer<byte[], byte[]> consumer =
            new KafkaConsumer<>(props, new ByteArrayDeserializer(), new ByteArrayDeserializer());
        DataOutputStream out = new DataOutputStream(new FileOutputStream(args[2]))) {
      List<TopicPartition> partitions = new ArrayList<>();
      for (PartitionInfo p : consumer.partitionsFor(args[1])) {
        partitions.add(new TopicPartition(p.topic(), p.partition()));
      }
      consumer.assign(partitions);
      consumer.seekToBeginning(partitions);
      Map<TopicPartition, Long> end = consumer.endOffsets(partitions);
      long deadline = System.currentTimeMillis() + 60_000;
      while (partitions.stream().anyMatch(tp -> consumer.position(tp) < end.get(tp))) {
        if (System.currentTimeMillis() > deadline) throw new RuntimeException("timed out");
        for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(500))) {
          byte[] key = r.key() == null ? new byte[0] : r.key();
          out.writeInt(key.length);
          out.write(key);
          out.writeInt(r.value().length);
          out.write(r.value());
        }
      }
    }
  }
}
