#!/usr/bin/env python3
"""Consumer groups with confluent-kafka-python and kafka-python against a
running broker on $BOOTSTRAP (default 127.0.0.1:9092): manual commits,
auto-commit, resume at the committed offset, two members sharing a topic."""
import os
import time
import uuid

BOOTSTRAP = os.environ.get('BOOTSTRAP', '127.0.0.1:9092')
run = uuid.uuid4().hex[:8]
topic = 'groups-py-' + run


def produce(n):
    from confluent_kafka import Producer
    p = Producer({'bootstrap.servers': BOOTSTRAP})
    for i in range(n):
        p.produce(topic, key=b'k%d' % i, value=b'v%d' % i, partition=i % 2)
    assert p.flush(10) == 0


def confluent():
    from confluent_kafka import Consumer, TopicPartition
    from confluent_kafka.admin import AdminClient, NewTopic
    a = AdminClient({'bootstrap.servers': BOOTSTRAP})
    for f in a.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)]).values():
        f.result()
    produce(20)
    group = 'ck-' + run
    conf = {'bootstrap.servers': BOOTSTRAP, 'group.id': group, 'auto.offset.reset': 'earliest',
            'enable.auto.commit': False, 'session.timeout.ms': 6000}

    def consume(c, n, timeout=20):
        got, deadline = [], time.time() + timeout
        while len(got) < n and time.time() < deadline:
            m = c.poll(0.5)
            if m is None:
                continue
            assert m.error() is None, m.error()
            got.append(m)
        return got

    # Manual commit of the first 10 records, then a new member resumes.
    c = Consumer(conf)
    c.subscribe([topic])
    first = consume(c, 10)
    assert len(first) == 10, len(first)
    c.commit(asynchronous=False)
    committed = {tp.partition: max(tp.offset, 0) for tp in c.committed([TopicPartition(topic, 0), TopicPartition(topic, 1)], timeout=10)}
    c.close()
    assert sum(committed.values()) >= 10, committed
    c = Consumer(conf)
    c.subscribe([topic])
    rest = consume(c, 20 - sum(committed.values()))
    for m in rest:
        assert m.offset() >= committed[m.partition()], (m.partition(), m.offset(), committed)
    assert len(rest) == 20 - sum(committed.values()), len(rest)
    c.close()

    # Two members split the two partitions.
    conf2 = dict(conf, **{'group.id': 'ck2-' + run, 'enable.auto.commit': True})
    owned = {}

    def on_assign(name):
        def cb(consumer, parts):
            owned[name] = sorted(p.partition for p in parts)
        return cb
    c1, c2 = Consumer(conf2), Consumer(conf2)
    c1.subscribe([topic], on_assign=on_assign('c1'))
    c2.subscribe([topic], on_assign=on_assign('c2'))
    deadline = time.time() + 30
    while time.time() < deadline:
        c1.poll(0.2)
        c2.poll(0.2)
        if len(owned.get('c1', [])) == 1 and len(owned.get('c2', [])) == 1:
            break
    assert sorted(owned.get('c1', []) + owned.get('c2', [])) == [0, 1], owned
    c1.close()
    c2.close()
    print("confluent-kafka groups OK")


def kafka_python():
    from kafka import KafkaConsumer, TopicPartition
    group = 'kp-' + run
    # Auto-commit: consume everything, close (commits), a new member
    # sees nothing left.
    c = KafkaConsumer(topic, bootstrap_servers=BOOTSTRAP, group_id=group, auto_offset_reset='earliest',
                      enable_auto_commit=True, auto_commit_interval_ms=200)
    # Poll until all 20 arrive: the first join of a group waits out
    # group.initial.rebalance.delay.ms (3 s), so a fixed idle timeout
    # (consumer_timeout_ms) races with it on a loaded machine.
    n, deadline = 0, time.time() + 30
    while n < 20 and time.time() < deadline:
        n += sum(len(recs) for recs in c.poll(timeout_ms=500).values())
    assert n == 20, n
    c.close()
    c = KafkaConsumer(topic, bootstrap_servers=BOOTSTRAP, group_id=group, auto_offset_reset='earliest',
                      consumer_timeout_ms=2000)
    left = sum(1 for _ in c)
    assert left == 0, left
    tps = [TopicPartition(topic, 0), TopicPartition(topic, 1)]
    assert sum(c.committed(tp) for tp in tps) == 20
    c.close()
    # Manual commit of a chosen offset, with metadata.
    from kafka.structs import OffsetAndMetadata
    group2 = 'kp2-' + run
    c = KafkaConsumer(bootstrap_servers=BOOTSTRAP, group_id=group2, enable_auto_commit=False)
    try:
        c.commit({TopicPartition(topic, 0): OffsetAndMetadata(3, 'note', -1)})
    except TypeError:  # kafka-python before 2.1 has no leader epoch
        c.commit({TopicPartition(topic, 0): OffsetAndMetadata(3, 'note')})
    assert c.committed(TopicPartition(topic, 0)) == 3
    c.close()
    print("kafka-python groups OK")


confluent()
try:
    import kafka  # noqa: F401
except ImportError:
    print("kafka-python not installed; skipped")
else:
    kafka_python()
print("groups OK")
