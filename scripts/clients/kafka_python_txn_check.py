#!/usr/bin/env python3
"""Transactions with kafka-python (2.2 and later; older versions have no
transactional producer and say SKIP) against a running broker on $BOOTSTRAP
(default 127.0.0.1:9092): a committed and an aborted transaction, a
read_committed consumer that sees only the committed records, and
send_offsets_to_transaction from a consumer group: a committed transaction's
offsets become the group's, an aborted one's do not."""
import os
import sys
import time
import uuid

import kafka
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

if 'transactional_id' not in KafkaProducer.DEFAULT_CONFIG or 'isolation_level' not in KafkaConsumer.DEFAULT_CONFIG:
    print('SKIP: kafka-python %s has no transactional producer or read_committed consumer (kafka-python 2.2 added them)' % kafka.__version__)
    sys.exit(0)

from kafka.admin import KafkaAdminClient, NewTopic
from kafka.structs import OffsetAndMetadata

BOOTSTRAP = os.environ.get('BOOTSTRAP', '127.0.0.1:9092')
run = uuid.uuid4().hex[:8]
topic, src = 'kp-txn-' + run, 'kp-txn-in-' + run
group = 'kp-txn-' + run
admin = KafkaAdminClient(bootstrap_servers=BOOTSTRAP)
admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1),
                     NewTopic(src, num_partitions=1, replication_factor=1)])
admin.close()


def read(t, parts, isolation, want):
    c = KafkaConsumer(bootstrap_servers=BOOTSTRAP, enable_auto_commit=False, isolation_level=isolation)
    c.assign([TopicPartition(t, p) for p in range(parts)])
    c.seek_to_beginning()
    got, deadline = [], time.time() + 20
    while len(got) < want and time.time() < deadline:
        got += [m.value.decode() for recs in c.poll(timeout_ms=500).values() for m in recs]
    # Nothing more comes.
    got += [m.value.decode() for recs in c.poll(timeout_ms=1000).values() for m in recs]
    c.close()
    return sorted(got)


p = KafkaProducer(bootstrap_servers=BOOTSTRAP, transactional_id='kp-txn-' + run)
p.init_transactions()
p.begin_transaction()
for i in range(10):
    p.send(topic, value=b'committed-%d' % i, partition=i % 2)
p.commit_transaction()
p.begin_transaction()
for i in range(5):
    p.send(topic, value=b'aborted-%d' % i, partition=i % 2)
p.flush()
p.abort_transaction()

want = sorted('committed-%d' % i for i in range(10))
got = read(topic, 2, 'read_committed', 10)
assert got == want, 'read_committed got %s' % got
got = read(topic, 2, 'read_uncommitted', 15)
assert got == sorted(want + ['aborted-%d' % i for i in range(5)]), 'read_uncommitted got %s' % got
print('commit, abort, read_committed OK')

# send_offsets_to_transaction: the group id as a string works in 2.2 and
# later (3.x also takes KafkaConsumer.group_metadata()).
tp = TopicPartition(src, 0)
plain = KafkaProducer(bootstrap_servers=BOOTSTRAP)
for i in range(10):
    plain.send(src, value=b'in-%d' % i, partition=0)
plain.flush()
plain.close()
c = KafkaConsumer(bootstrap_servers=BOOTSTRAP, group_id=group, enable_auto_commit=False)


def transform(offset, commit):
    p.begin_transaction()
    p.send(topic, value=b'out-%d' % offset, partition=0)
    p.send_offsets_to_transaction({tp: OffsetAndMetadata(offset, '', -1) if len(OffsetAndMetadata._fields) > 2 else OffsetAndMetadata(offset, '')}, group)
    if commit:
        p.commit_transaction()
    else:
        p.flush()  # the aborted record reaches the log before the abort
        p.abort_transaction()


def committed(want):
    # EndTxn is answered before the markers are written (as in Kafka):
    # unless the client asks for stable offsets, a committed transaction's
    # offsets show a moment later.
    deadline = time.time() + 10
    while c.committed(tp) != want and time.time() < deadline:
        time.sleep(0.1)
    return c.committed(tp)


transform(4, True)
assert committed(4) == 4, c.committed(tp)
transform(7, False)
time.sleep(0.5)
assert c.committed(tp) == 4, 'after abort: %s' % c.committed(tp)
transform(10, True)
assert committed(10) == 10, c.committed(tp)
c.close()
p.close()
got = read(topic, 2, 'read_committed', 12)
assert got == sorted(want + ['out-4', 'out-10']), 'read_committed after the offsets got %s' % got
print('send_offsets_to_transaction OK')
print('kafka-python transactions OK')
