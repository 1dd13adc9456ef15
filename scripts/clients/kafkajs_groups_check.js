// kafkajs consumer groups against a running broker (BOOTSTRAP, default
// 127.0.0.1:9092): two members split a topic, commits survive a restart of
// the consumer, admin describe/fetch offsets. kafkajs speaks old versions
// (JoinGroup v5, OffsetCommit v5, OffsetFetch v4 ...). Run by hand:
// BOOTSTRAP=host:port node scripts/clients/kafkajs_groups_check.js
const { Kafka, logLevel } = require('kafkajs')
const kafka = new Kafka({ clientId: 'kjs-groups', brokers: [process.env.BOOTSTRAP || '127.0.0.1:9092'], logLevel: logLevel.ERROR })
const topic = 'kjsg-' + Date.now()
const groupId = 'kjsg-' + Date.now()
const sleep = ms => new Promise(r => setTimeout(r, ms))
;(async () => {
  const admin = kafka.admin(); await admin.connect()
  await admin.createTopics({ topics: [{ topic, numPartitions: 2 }] })
  const producer = kafka.producer(); await producer.connect()
  await producer.send({ topic, messages: Array.from({ length: 20 }, (_, i) => ({ partition: i % 2, value: 'v' + i })) })

  // Two members, each gets one partition; together they read everything.
  const seen = new Set()
  const members = [kafka.consumer({ groupId, sessionTimeout: 10000 }), kafka.consumer({ groupId, sessionTimeout: 10000 })]
  for (const c of members) {
    await c.connect()
    await c.subscribe({ topic, fromBeginning: true })
    await c.run({ eachMessage: async ({ partition, message }) => { seen.add(partition + '@' + message.offset) } })
  }
  for (let i = 0; i < 150 && seen.size < 20; i++) await sleep(100)
  if (seen.size !== 20) throw new Error('group consumed ' + seen.size + ' of 20')
  const desc = await admin.describeGroups([groupId])
  const g = desc.groups[0]
  if (g.state !== 'Stable' || g.members.length !== 2) throw new Error('describe: ' + JSON.stringify(g))
  for (const c of members) await c.disconnect() // commits what was consumed

  const offs = await admin.fetchOffsets({ groupId, topics: [topic] })
  const total = offs[0].partitions.reduce((n, p) => n + Number(p.offset), 0)
  if (total !== 20) throw new Error('committed offsets sum to ' + total + ', want 20')

  // A new member resumes after the commits: it sees only new records.
  await producer.send({ topic, messages: [{ partition: 0, value: 'late' }] })
  const got = []
  const c = kafka.consumer({ groupId, sessionTimeout: 10000 })
  await c.connect(); await c.subscribe({ topic, fromBeginning: true })
  await c.run({ eachMessage: async ({ message }) => { got.push(message.value.toString()) } })
  for (let i = 0; i < 150 && got.length < 1; i++) await sleep(100)
  await sleep(500)
  await c.disconnect()
  if (got.length !== 1 || got[0] !== 'late') throw new Error('resumed consumer got ' + JSON.stringify(got))
  await producer.disconnect(); await admin.disconnect()
  console.log('kafkajs groups OK')
})().catch(e => { console.error('FAIL', e); process.exit(1) })
