// kafkajs transactions against a running broker (BOOTSTRAP, default
// 127.0.0.1:9092): producer.transaction() with send and commit, and with
// send and abort; a consumer with readUncommitted: false sees only the
// committed records (one with readUncommitted: true sees the aborted ones
// too); a consume-transform-produce loop whose transaction.sendOffsets
// commits the group's offsets with the output, an aborted transaction's
// offsets not committed, and every input record in the output exactly once.
// Run by hand: BOOTSTRAP=host:port node scripts/clients/kafkajs_txn_check.js
const { Kafka, logLevel } = require('kafkajs')
const kafka = new Kafka({ clientId: 'kjs-txn', brokers: [process.env.BOOTSTRAP || '127.0.0.1:9092'], logLevel: logLevel.ERROR })
const run = Date.now().toString(36)
const sleep = ms => new Promise(r => setTimeout(r, ms))
const assert = (ok, msg) => { if (!ok) throw new Error(msg) }
const same = (a, b) => JSON.stringify(a) === JSON.stringify(b)

// Every record of topic up to the end each partition has for this
// isolation level (for read_committed, the last stable offset, which
// fetchTopicOffsets does not give: so read until want records and a quiet
// second), as sorted values.
async function readAll (topic, readUncommitted, want) {
  const c = kafka.consumer({ groupId: 'kjs-read-' + run + '-' + Math.random(), readUncommitted, maxWaitTimeInMs: 200 })
  await c.connect()
  await c.subscribe({ topic, fromBeginning: true })
  const got = []
  await c.run({ eachMessage: async ({ message }) => { got.push(message.value.toString()) } })
  for (let i = 0; i < 300 && got.length < want; i++) await sleep(100)
  await sleep(1000)
  await c.disconnect()
  return got.sort()
}

async function txnProducer (transactionalId) {
  const p = kafka.producer({ transactionalId, idempotent: true, maxInFlightRequests: 1 })
  await p.connect()
  return p
}

async function commitAbort (admin) {
  const topic = 'kjs-txn-' + run
  await admin.createTopics({ topics: [{ topic, numPartitions: 2 }] })
  const p = await txnProducer('kjs-txn-' + run)
  let t = await p.transaction()
  await t.send({ topic, messages: Array.from({ length: 10 }, (_, i) => ({ partition: i % 2, value: 'committed-' + i })) })
  await t.commit()
  t = await p.transaction()
  await t.send({ topic, messages: Array.from({ length: 5 }, (_, i) => ({ partition: i % 2, value: 'aborted-' + i })) })
  await t.abort()
  t = await p.transaction()
  await t.send({ topic, messages: [{ partition: 1, value: 'committed-10' }] })
  await t.commit()
  await p.disconnect()

  const want = Array.from({ length: 11 }, (_, i) => 'committed-' + i).sort()
  const committed = await readAll(topic, false, want.length)
  assert(same(committed, want), 'readUncommitted:false got ' + JSON.stringify(committed))
  const all = await readAll(topic, true, 16)
  const wantAll = want.concat(Array.from({ length: 5 }, (_, i) => 'aborted-' + i)).sort()
  assert(same(all, wantAll), 'readUncommitted:true got ' + JSON.stringify(all))
  // 16 records and a marker per transaction and partition it wrote to
  // (2 + 2 + 1).
  const offs = await admin.fetchTopicOffsets(topic)
  const high = offs.reduce((n, o) => n + Number(o.high), 0)
  assert(high === 16 + 5, 'high watermarks sum to ' + high + ', want 21')
  console.log('commit, abort, read committed OK')
}

async function consumeTransformProduce (admin) {
  const src = 'kjs-ctp-in-' + run; const dst = 'kjs-ctp-out-' + run; const groupId = 'kjs-ctp-' + run
  await admin.createTopics({ topics: [{ topic: src, numPartitions: 2 }, { topic: dst, numPartitions: 2 }] })
  const plain = kafka.producer(); await plain.connect()
  await plain.send({ topic: src, messages: Array.from({ length: 30 }, (_, i) => ({ partition: i % 2, value: 'in-' + i })) })
  await plain.disconnect()
  const p = await txnProducer('kjs-ctp-' + run)

  const committedOffsets = async () => {
    const r = await admin.fetchOffsets({ groupId, topics: [src] })
    const m = {}
    for (const x of r[0].partitions) m[x.partition] = Number(x.offset)
    return m
  }
  // Transforms the records eachBatch hands over, in one transaction with
  // the batch's next offset, until the abort-th batch, which it aborts
  // (and then stops, leaving that batch uncommitted), or until stopAt
  // records are committed in all.
  const loop = async ({ abortAfter, stopAt }) => {
    const c = kafka.consumer({ groupId, readUncommitted: false, sessionTimeout: 10000, maxWaitTimeInMs: 200 })
    await c.connect()
    await c.subscribe({ topic: src, fromBeginning: true })
    const sent = {}
    let done = 0; let batches = 0; let aborted = null; let failed = null
    await c.run({
      autoCommit: false,
      eachBatch: async ({ batch, isRunning }) => {
        if (!isRunning() || failed || aborted || done >= stopAt || batch.messages.length === 0) return
        let t
        try {
          t = await p.transaction()
          await t.send({ topic: dst, messages: batch.messages.map(m => ({ partition: batch.partition, value: 'out-' + m.value.toString() })) })
          const next = Number(batch.messages[batch.messages.length - 1].offset) + 1
          await t.sendOffsets({ consumerGroupId: groupId, topics: [{ topic: src, partitions: [{ partition: batch.partition, offset: String(next) }] }] })
          if (++batches === abortAfter) {
            await t.abort()
            aborted = { partition: batch.partition, next }
            return
          }
          await t.commit()
          sent[batch.partition] = next
          done += batch.messages.length
        } catch (e) {
          failed = e
          if (t) await t.abort().catch(() => {})
        }
      }
    })
    for (let i = 0; i < 300 && !failed && !aborted && done < stopAt; i++) await sleep(100)
    await c.disconnect()
    if (failed) throw failed
    return { sent, aborted, done }
  }

  // kafkajs's OffsetFetch (v4) cannot ask for stable offsets, and EndTxn
  // is answered before the markers are written (as in Kafka): a committed
  // transaction's offsets show a moment later.
  const waitCommitted = async want => {
    let got
    for (let i = 0; i < 50; i++) {
      got = await committedOffsets()
      if (Object.entries(want).every(([part, off]) => got[part] === off)) return got
      await sleep(100)
    }
    throw new Error('committed offsets ' + JSON.stringify(got) + ', want ' + JSON.stringify(want))
  }
  // First: one committed batch, then one aborted.
  const first = await loop({ abortAfter: 2, stopAt: 30 })
  assert(first.aborted, 'no aborted batch: ' + JSON.stringify(first))
  const expect = Object.assign({ 0: -1, 1: -1 }, first.sent)
  await waitCommitted(expect)
  await sleep(500)
  let got = await committedOffsets()
  assert(same(got, expect), 'aborted offsets committed: ' + JSON.stringify(got) + ', want ' + JSON.stringify(expect))
  // Then the rest, resuming at the committed offsets.
  const second = await loop({ abortAfter: 0, stopAt: 30 - first.done })
  assert(first.done + second.done === 30, 'transformed ' + first.done + '+' + second.done + ' records, want 30')
  got = await waitCommitted({ 0: 15, 1: 15 })
  await p.disconnect()
  const out = await readAll(dst, false, 30)
  const want = Array.from({ length: 30 }, (_, i) => 'out-in-' + i).sort()
  assert(same(out, want), 'output ' + JSON.stringify(out))
  console.log('consume-transform-produce OK')
}

;(async () => {
  const admin = kafka.admin(); await admin.connect()
  await commitAbort(admin)
  await consumeTransformProduce(admin)
  await admin.disconnect()
  console.log('kafkajs transactions OK')
})().catch(e => { console.error('FAIL', e); process.exit(1) })
