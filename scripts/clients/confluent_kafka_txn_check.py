#!/usr/bin/env python3
"""Transactions with confluent-kafka-python (librdkafka) against a running
broker on $BOOTSTRAP (default 127.0.0.1:9092):

- init_transactions, a committed transaction, an aborted one, another
  committed one; a read_committed consumer sees exactly the committed
  records (a read_uncommitted one sees the aborted ones too, so they were
  written), both stop at the same end;
- zombie fencing: a second producer with the same transactional.id fences
  the first;
- consume-transform-produce: a consumer group reads an input topic, a
  transactional producer writes the transformed records and the consumer's
  positions (send_offsets_to_transaction); the group's committed offsets
  (consumer.committed) equal what a committed transaction sent, an aborted
  transaction's offsets are not committed, and after a restart from the
  committed offsets the output holds every input record exactly once.
"""
import os
import time
import uuid

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

BOOTSTRAP = os.environ.get('BOOTSTRAP', '127.0.0.1:9092')
run = uuid.uuid4().hex[:8]
admin = AdminClient({'bootstrap.servers': BOOTSTRAP})


def create(*topics, partitions=2):
    for f in admin.create_topics([NewTopic(t, num_partitions=partitions, replication_factor=1) for t in topics]).values():
        f.result()


def txn_producer(tid):
    p = Producer({'bootstrap.servers': BOOTSTRAP, 'transactional.id': tid, 'transaction.timeout.ms': 30000})
    p.init_transactions(30)
    return p


def read_all(topic, partitions, isolation):
    """Every record of topic up to its end (for read_committed: its last
    stable offset), as (partition, offset, value); and each partition's
    position at the end."""
    c = Consumer({'bootstrap.servers': BOOTSTRAP, 'group.id': 'unused-' + run, 'enable.auto.commit': False,
                  'isolation.level': isolation, 'enable.partition.eof': True})
    c.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    got, eof, deadline = [], set(), time.time() + 20
    while len(eof) < partitions and time.time() < deadline:
        m = c.poll(0.5)
        if m is None:
            continue
        if m.error():
            if m.error().code() == KafkaError._PARTITION_EOF:
                eof.add(m.partition())
                continue
            raise KafkaException(m.error())
        got.append((m.partition(), m.offset(), m.value().decode()))
    assert len(eof) == partitions, 'no end of partition within 20 s for %s (%s), got %d records' % (topic, isolation, len(got))
    ends = {tp.partition: tp.offset for tp in c.position([TopicPartition(topic, p) for p in range(partitions)])}
    c.close()
    return got, ends


def commit_abort_read_committed():
    topic = 'ck-txn-' + run
    create(topic)
    p = txn_producer('ck-txn-' + run)
    p.begin_transaction()
    for i in range(10):
        p.produce(topic, key=b'k%d' % i, value=b'committed-%d' % i, partition=i % 2)
    p.commit_transaction(30)
    p.begin_transaction()
    for i in range(5):
        p.produce(topic, key=b'k%d' % i, value=b'aborted-%d' % i, partition=i % 2)
    p.flush(10)  # the aborted records reach the log before the abort
    p.abort_transaction(30)
    p.begin_transaction()
    for i in range(10, 13):
        p.produce(topic, value=b'committed-%d' % i, partition=i % 2)
    p.commit_transaction(30)

    committed, ends = read_all(topic, 2, 'read_committed')
    vals = sorted(v for _, _, v in committed)
    want = sorted('committed-%d' % i for i in range(13))
    assert vals == want, 'read_committed got %s, want %s' % (vals, want)
    everything, ends_u = read_all(topic, 2, 'read_uncommitted')
    vals_u = sorted(v for _, _, v in everything)
    assert vals_u == sorted(want + ['aborted-%d' % i for i in range(5)]), 'read_uncommitted got %s' % vals_u
    # Three markers per partition (commit, abort, commit) take offsets:
    # 18 records + 6 markers, and both isolation levels end at the end.
    assert ends == ends_u and sum(ends.values()) == 18 + 6, (ends, ends_u)
    # The consumer reads each partition in offset order.
    for part in range(2):
        offs = [o for pp, o, _ in committed if pp == part]
        assert offs == sorted(offs), offs

    # Zombie fencing: a new instance of the transactional id fences the
    # old one, whose next transaction fails fatally.
    p2 = txn_producer('ck-txn-' + run)
    try:
        p.begin_transaction()
        p.produce(topic, value=b'zombie', partition=0)
        p.commit_transaction(10)
        raise AssertionError('the fenced producer committed')
    except KafkaException as e:
        err = e.args[0]
        assert err.fatal() or err.code() in (KafkaError._FENCED, KafkaError.PRODUCER_FENCED, KafkaError.INVALID_PRODUCER_EPOCH), err
    p2.begin_transaction()
    p2.produce(topic, value=b'committed-13', partition=0)
    p2.commit_transaction(30)
    committed, _ = read_all(topic, 2, 'read_committed')
    vals = sorted(v for _, _, v in committed)
    assert vals == sorted(want + ['committed-13']), 'after fencing: %s' % vals
    print('commit, abort, read_committed, fencing OK')


def consume_transform_produce():
    src, dst = 'ck-ctp-in-' + run, 'ck-ctp-out-' + run
    group = 'ck-ctp-' + run
    create(src, dst)
    p = Producer({'bootstrap.servers': BOOTSTRAP})
    for i in range(30):
        p.produce(src, value=b'in-%d' % i, partition=i % 2)
    assert p.flush(10) == 0
    parts = [TopicPartition(src, 0), TopicPartition(src, 1)]

    def consumer():
        c = Consumer({'bootstrap.servers': BOOTSTRAP, 'group.id': group, 'enable.auto.commit': False,
                      'auto.offset.reset': 'earliest', 'isolation.level': 'read_committed',
                      'session.timeout.ms': 6000})
        c.subscribe([src])
        return c

    def poll(c, n, timeout=30):
        got, deadline = [], time.time() + timeout
        while len(got) < n and time.time() < deadline:
            m = c.poll(0.5)
            if m is None:
                continue
            if m.error():
                raise KafkaException(m.error())
            got.append(m)
        assert len(got) == n, 'polled %d of %d' % (len(got), n)
        return got

    def committed(c):
        return {tp.partition: tp.offset for tp in c.committed(parts, timeout=20)}

    def transform(tp, c, msgs, commit):
        tp.begin_transaction()
        for m in msgs:
            tp.produce(dst, value=b'out-' + m.value(), partition=m.partition())
        positions = c.position(c.assignment())
        tp.send_offsets_to_transaction(positions, c.consumer_group_metadata(), 30)
        if commit:
            tp.commit_transaction(30)
        else:
            tp.flush(10)  # the aborted records reach the log before the abort
            tp.abort_transaction(30)
        return {t.partition: t.offset for t in positions}

    tp = txn_producer('ck-ctp-' + run)
    c = consumer()
    # A committed transaction: its offsets are the group's.
    sent = transform(tp, c, poll(c, 10), True)
    got = committed(c)
    assert got == sent, 'committed offsets %s, sent %s' % (got, sent)
    # An aborted one: the group keeps the committed offsets.
    transform(tp, c, poll(c, 10), False)
    got = committed(c)
    assert got == sent, 'after abort: committed offsets %s, want %s' % (got, sent)
    c.close()
    # A new member resumes at the committed offsets (the aborted batch is
    # read again) and transforms the rest in committed transactions.
    c = consumer()
    rest = poll(c, 20)
    for m in rest:
        assert m.offset() >= sent.get(m.partition(), 0), (m.partition(), m.offset(), sent)
    final = transform(tp, c, rest, True)
    got = committed(c)
    assert got == final == {0: 15, 1: 15}, 'final committed %s, sent %s' % (got, final)
    c.close()
    # Exactly once: each input record transformed once in what
    # read_committed sees, though 10 were produced twice (once aborted).
    out, _ = read_all(dst, 2, 'read_committed')
    vals = sorted(v for _, _, v in out)
    assert vals == sorted('out-in-%d' % i for i in range(30)), 'output %s' % vals
    everything, _ = read_all(dst, 2, 'read_uncommitted')
    assert len(everything) == 40, len(everything)
    print('consume-transform-produce OK')


commit_abort_read_committed()
consume_transform_produce()
print('confluent-kafka transactions OK')
