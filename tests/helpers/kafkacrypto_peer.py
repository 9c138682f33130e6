"""KafkaCrypto's own KafkaProducer / KafkaConsumer as an outside peer of the tests (ours; only
calls KafkaCrypto's public classes). Usage:
  kafkacrypto_peer.py NODE.config BOOTSTRAP TOPIC produce VALUE...   (then stays $STAY s to answer key requests)
  kafkacrypto_peer.py NODE.config BOOTSTRAP TOPIC consume COUNT       (prints 'clear VALUE' per value, then 'pending N')
"""
import sys, os, time, logging
from kafkacrypto import KafkaCrypto, KafkaCryptoStore, KafkaConsumer, KafkaProducer
config, bootstrap, topic, mode = sys.argv[1:5]
os.chdir(os.path.dirname(os.path.abspath(config)))
kcs = KafkaCryptoStore(os.path.basename(config), conf_global_logger=False)
kcs.store_value('bootstrap_servers', bootstrap, section='kafka')
kcs.store_value('security_protocol', 'PLAINTEXT', section='kafka')
kcc = KafkaConsumer(**kcs.get_kafka_config('consumer', extra='crypto'))
kcp = KafkaProducer(**kcs.get_kafka_config('producer', extra='crypto'))
kc = KafkaCrypto(None, kcp, kcc, config=kcs)
if mode == 'produce':
  cfg = kcs.get_kafka_config('producer')
  cfg['key_serializer'] = kc.getKeySerializer(); cfg['value_serializer'] = kc.getValueSerializer()
  producer = KafkaProducer(**cfg)
  for item in sys.argv[5:]:
    producer.send(topic, key=b'k-' + item.encode(), value=item.encode())
  producer.flush()
  print('sent', flush=True)
  time.sleep(float(os.environ.get('STAY', '30')))
else:
  cfg = kcs.get_kafka_config('consumer')
  cfg['key_deserializer'] = kc.getKeyDeserializer(max_key_wait_intervals=20); cfg['value_deserializer'] = kc.getValueDeserializer(max_key_wait_intervals=20)
  cfg['auto_offset_reset'] = 'earliest'; cfg['group_id'] = 'g' + str(time.time())
  consumer = KafkaConsumer(**cfg)
  consumer.subscribe([topic])
  want = int(sys.argv[5]); got = 0; deadline = time.time() + float(os.environ.get('DEADLINE', '90')); pending = []
  while got < want and time.time() < deadline:
    for tp, msgs in consumer.poll(timeout_ms=1000).items():
      for m in msgs:
        pending.append((m.key, m.value))
    still = []
    for k, v in pending:
      if k.isCleartext(retry=True) and v.isCleartext(retry=True):
        print('clear', k.getMessage().decode(), v.getMessage().decode(), flush=True); got += 1
      else:
        still.append((k, v))
    pending = still
  print('pending', len(pending), flush=True)
  consumer.close()
kc.close()
