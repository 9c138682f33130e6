// Kafka's own LZ4 frame code (kafka-clients), an independent check of the
// project's codec. `decode IN OUT...` reads each frame as the broker does;
// `encode IN OUT...` and `encode-checksum IN OUT...` write frames as the Java
// producer does (64 KiB blocks, the second with block checksums). Run with the
// broker's classpath: java -cp CLASSPATH KafkaLz4.java decode a.lz4 a.bin
import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Paths;
import org.apache.kafka.common.compress.Lz4BlockInputStream;
import org.apache.kafka.common.compress.Lz4BlockOutputStream;
import org.apache.kafka.common.utils.BufferSupplier;

public class KafkaLz4 {
  public static void main(String[] args) throws Exception {
    for (int i = 1; i + 1 < args.length; i += 2) {
      byte[] in = Files.readAllBytes(Paths.get(args[i]));
      ByteArrayOutputStream out = new ByteArrayOutputStream();
      if (args[0].equals("decode")) {
        try (InputStream s = new Lz4BlockInputStream(ByteBuffer.wrap(in), BufferSupplier.NO_CACHING, false)) {
          s.transferTo(out);
        }
      } else {
        boolean blockChecksum = args[0].equals("encode-checksum");
        // Block size code 4 (64 KiB), compression level 9 (Kafka's default).
        try (OutputStream s = new Lz4BlockOutputStream(out, 4, 9, blockChecksum, false)) {
          s.write(in);
        }
      }
      Files.write(Paths.get(args[i + 1]), out.toByteArray());
    }
  }
}
