// kafkajs against a running broker (BOOTSTRAP, default 127.0.0.1:9092): admin
// create/list topics, idempotent producer, topic offsets. kafkajs speaks the
// old non-flexible protocol versions (Produce v7, Metadata v6, ...).
const { Kafka, logLevel } = require('kafkajs')
const kafka = new Kafka({ clientId: 'kjs', brokers: [process.env.BOOTSTRAP || '127.0.0.1:9092'], logLevel: logLevel.ERROR })
const topic = 'kjs-' + Date.now()
;(async () => {
  const admin = kafka.admin(); await admin.connect()
  await admin.createTopics({ topics: [{ topic: topic, numPartitions: 2 }] })
  if (!(await admin.listTopics()).includes(topic)) throw new Error('topic not listed')
  const producer = kafka.producer({ idempotent: true }); await producer.connect()
  const res = await producer.send({ topic: topic, messages: Array.from({length: 20}, (_, i) => ({ key: 'k' + (i % 3), value: 'v' + i })) })
    const offs = await admin.fetchTopicOffsets(topic)
  const total = offs.reduce((n, o) => n + Number(o.high), 0)
  if (total !== 20) throw new Error('high watermarks sum to ' + total + ', want 20')
  await producer.disconnect(); await admin.disconnect()
  console.log('kafkajs OK')
})().catch(e => { console.error('FAIL', e); process.exit(1) })
