#!/usr/bin/env python3
"""kafka-python against a running broker on 127.0.0.1:9092: admin, producer, assigned consumer."""
import os
import time
BOOTSTRAP = os.environ.get('BOOTSTRAP', '127.0.0.1:9092')
from kafka import KafkaProducer, KafkaConsumer, KafkaAdminClient, TopicPartition
from kafka.admin import NewTopic
a = KafkaAdminClient(bootstrap_servers=BOOTSTRAP)
a.create_topics([NewTopic('kp-topic', num_partitions=2, replication_factor=1)])
print("topics", a.list_topics())
p = KafkaProducer(bootstrap_servers=BOOTSTRAP, acks='all', compression_type='gzip')
futs = [p.send('kp-topic', key=b'k%d' % i, value=b'value %d' % i) for i in range(50)]
p.flush()
md = [f.get(timeout=10) for f in futs]
print("acked", len(md))
c = KafkaConsumer(bootstrap_servers=BOOTSTRAP, auto_offset_reset='earliest', enable_auto_commit=False)
c.assign([TopicPartition('kp-topic', 0), TopicPartition('kp-topic', 1)])
c.seek_to_beginning()
vals, deadline = [], time.time() + 30  # poll to a deadline, not to an idle timeout
while len(vals) < 50 and time.time() < deadline:
    vals += [m.value for recs in c.poll(timeout_ms=500).values() for m in recs]
print("consumed", len(vals))
assert len(vals) == 50
print(a.describe_configs([__import__('kafka.admin', fromlist=['ConfigResource']).ConfigResource('TOPIC', 'kp-topic')])[0].resources[0][4][:2])
print("kafka-python OK")
