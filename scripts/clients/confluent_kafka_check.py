#!/usr/bin/env python3
"""confluent-kafka-python against a running broker on 127.0.0.1:9092: admin, idempotent zstd producer, per-partition consumer."""
import os
BOOTSTRAP = os.environ.get('BOOTSTRAP', '127.0.0.1:9092')
from confluent_kafka import Producer, Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
a = AdminClient({'bootstrap.servers': BOOTSTRAP})
fs = a.create_topics([NewTopic('ck-topic', num_partitions=3, replication_factor=1)])
for t, f in fs.items():
    f.result()
print("created", list(a.list_topics(timeout=5).topics))
p = Producer({'bootstrap.servers': BOOTSTRAP, 'enable.idempotence': True, 'compression.type': 'zstd'})
acked = []
for i in range(100):
    p.produce('ck-topic', key=b'key%d' % (i % 5), value=b'v%d' % i, on_delivery=lambda e, m: acked.append((e, m.partition(), m.offset())))
p.flush(10)
assert all(e is None for e, _, _ in acked), acked[:3]
print("acked", len(acked))
got = 0
for part in range(3):
    c = Consumer({'bootstrap.servers': BOOTSTRAP, 'group.id': 'unused', 'enable.auto.commit': False})
    c.assign([TopicPartition('ck-topic', part, 0)])
    lo, hi = c.get_watermark_offsets(TopicPartition('ck-topic', part), timeout=5)
    n = 0
    while n < hi:
        m = c.poll(5)
        if m is None: break
        assert m.error() is None, m.error()
        n += 1
    got += n
    print("partition", part, "watermarks", lo, hi, "read", n)
    c.close()
assert got == 100, got
print("confluent-kafka OK")
