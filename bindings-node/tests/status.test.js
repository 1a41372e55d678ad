'use strict'
// Status, health, Prometheus, the prober and the status server, from the shared vectors
// (tests/vectors/status/).
const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const http = require('node:http')
const path = require('node:path')
const w = require('..')
const { VECTORS, readJson } = require('./helpers')

const dir = path.join(VECTORS, 'status')
const cases = readJson(path.join(dir, 'cases.json'))

function statusOf(c) {
  const plan = c.mesh ? w.plan(w.Mesh.fromToml(c.mesh)) : undefined
  const options = { now: c.now, plan, node: c.node ?? undefined }
  if (c.previous) {
    options.previous = w.parseWgDump(c.previous.dump)
    options.previousTime = c.previous.time
  }
  return { status: w.deviceStatus(w.parseWgDump(c.dump), c.interface, options), plan }
}

test('status and health vectors', () => {
  for (const c of cases.cases) {
    const { status, plan } = statusOf(c)
    const expectedStatus = readJson(path.join(dir, `${c.name}.status.json`))
    const expectedHealth = readJson(path.join(dir, `${c.name}.health.json`))
    assert.deepEqual(status.toJSON(), expectedStatus, c.name)
    assert.deepEqual(JSON.parse(JSON.stringify(status)), expectedStatus, c.name)
    const resolve = c.resolve_endpoints === true
    const health = plan ? status.health(plan, c.node, { resolveEndpoints: resolve }) : status.health()
    assert.deepEqual(health, expectedHealth, c.name)
    if (resolve) {
      // Without resolving, a planned DNS endpoint is never a problem.
      assert.ok(status.health(plan, c.node).problems.every((p) => p.code !== 'wrong_endpoint'), c.name)
    }
    assert.equal(status.peerCount, expectedStatus.peer_count)
    assert.equal(status.peersUp, expectedStatus.peers_up)
    for (const p of health.problems) assert.ok(w.HEALTH_CODES.includes(p.code), p.code)
  }
})

test('health codes are shared', () => {
  assert.deepEqual([...w.HEALTH_CODES], readJson(path.join(dir, 'health_codes.json')).codes)
})

test('dump errors carry the code and line, never a secret', () => {
  for (const e of cases.errors) {
    const parse = e.all ? w.parseWgDumpAll : w.parseWgDump
    assert.throws(
      () => parse(e.dump),
      (err) => {
        assert.equal(err.code, e.code, e.name)
        assert.equal(err.location.line, e.line, e.name)
        assert.equal(err.location.source, "wg show dump")
        assert.ok(!err.message.includes('SECRET'))
        return true
      },
    )
  }
  const all = w.parseWgDumpAll(cases.all_dump.text)
  assert.deepEqual(all.map((i) => i.interface), cases.all_dump.interfaces)
  assert.deepEqual(all.map((i) => i.state.peers.length), cases.all_dump.peers)
})

test('prometheus text', () => {
  const { status } = statusOf(cases.cases[0])
  const text = status.prometheus()
  assert.equal(text, w.renderPrometheus([status]))
  assert.ok(text.includes('\nwiremesh_peers_up{interface="wm-hub"} 2\n'))
  assert.ok(text.includes('wireguard_latest_handshake_seconds{interface="wm-hub",public_key="u3IeuuEwHT98TJStDY1ngfIA0Bd4kI8QarJmpAVQNHs=",allowed_ips="10.88.0.13/32",name="node-3"} 0\n'))
  for (const line of text.split('\n')) {
    if (line && !line.startsWith('#')) assert.ok(Number.isFinite(Number(line.split(' ').pop())), line)
  }
})

test('argument errors', () => {
  const c = cases.cases[0]
  const state = w.parseWgDump(c.dump)
  const plan = w.plan(w.Mesh.fromToml(c.mesh))
  assert.throws(() => w.deviceStatus(state, 'wm0', { plan, node: 'nobody' }), { code: 'mesh_unknown_node' })
  assert.throws(() => w.deviceStatus(state, 'wm0', { previous: state }), /previous and previousTime/)
  assert.throws(() => w.deviceStatus(state, 'wm0', { now: -1 }), /non-negative/)
})

const root = process.getuid && process.getuid() === 0
test('prober on loopback', { skip: root ? false : 'ICMP sockets need root here' }, async () => {
  const prober = new w.Prober({ intervalMs: 20, timeoutMs: 200, window: 5 })
  try {
    prober.setTargets(['127.0.0.1', '::1'])
    assert.deepEqual(prober.targets, ['127.0.0.1', '::1'])
    const deadline = Date.now() + 10000
    while (Date.now() < deadline && !Object.values(prober.allStats()).every((s) => s.sent >= 5)) {
      await new Promise((r) => setTimeout(r, 20))
    }
    for (const [address, s] of Object.entries(prober.allStats())) {
      assert.equal(s.sent, 5, address)
      assert.equal(s.received, 5, address)
      assert.equal(s.loss, 0)
      assert.ok(s.rttAvgMs > 0)
    }
    assert.equal(prober.stats('127.0.0.1').received, 5)
    assert.equal(prober.stats('127.0.0.2'), null)
    assert.ok(prober.isRunning)
  } finally {
    prober.stop()
  }
  assert.equal(prober.isRunning, false)
  assert.throws(() => prober.setTargets(['nope']), /not an IP address/)
  assert.throws(() => new w.Prober({ window: 0 }), { code: 'io_other' })
})

function get(url) {
  return new Promise((resolve, reject) => {
    http
      .get(url, (res) => {
        let body = ''
        res.on('data', (d) => (body += d))
        res.on('end', () => resolve({ status: res.statusCode, body }))
      })
      .on('error', reject)
  })
}

test('status server: a device that is not there is 503 with the error code', async () => {
  const server = w.StatusServer.start('127.0.0.1:0', 'wmnosuch0')
  try {
    assert.match(server.address, /^127\.0\.0\.1:\d+$/)
    assert.ok(server.port > 0 && server.isRunning)
    for (const p of ['/status', '/healthz', '/metrics', '/']) {
      const { status, body } = await get(`http://${server.address}${p}`)
      assert.equal(status, 503, p)
      assert.ok(body.includes('io_not_found'), body)
    }
    assert.equal((await get(`http://${server.address}/nope`)).status, 404)
  } finally {
    server.stop()
  }
  assert.equal(server.isRunning, false)
  const c = cases.cases[0]
  const plan = w.plan(w.Mesh.fromToml(c.mesh))
  assert.throws(() => w.StatusServer.start('127.0.0.1:0', 'wm0', { plan, node: 'nobody' }), { code: 'mesh_unknown_node' })
  assert.throws(() => w.StatusServer.start('nonsense', 'wm0'), { code: 'mesh_invalid_value' })
  const first = w.StatusServer.start('127.0.0.1:0', 'wm0')
  try {
    assert.throws(() => w.StatusServer.start(first.address, 'wm0'), (err) => err.code.startsWith('io_'))
  } finally {
    first.stop()
  }
})

test('status server from a dump function (sync and async)', async () => {
  const c = cases.cases[0]
  const plan = w.plan(w.Mesh.fromToml(c.mesh))
  const privateKey = c.dump.split('\t')[0]
  for (const [kind, dump] of [
    ['sync', () => c.dump],
    ['async', async () => c.dump],
  ]) {
    let calls = 0
    const counted = () => {
      calls += 1
      return dump()
    }
    const server = w.StatusServer.start('127.0.0.1:0', 'wm-hub', { dump: counted, plan, node: 'hub' })
    try {
      assert.match(server.address, /^127\.0\.0\.1:\d+$/)
      assert.ok(server.port > 0 && server.isRunning)
      let { status, body } = await get(`http://${server.address}/status`)
      assert.equal(status, 200, `${kind}: ${body}`)
      const doc = JSON.parse(body)
      assert.equal(doc.peer_count, 3)
      assert.deepEqual(doc.peers.map((p) => p.name), ['node-1', 'node-2', 'node-3'])
      ;({ status, body } = await get(`http://${server.address}/healthz`))
      assert.equal(status, 503, kind)
      assert.ok(body.includes('peer_never: node-3 has never completed a handshake'), body)
      ;({ status, body } = await get(`http://${server.address}/metrics`))
      assert.equal(status, 200, kind)
      assert.ok(body.includes('wireguard_sent_bytes_total{'), body)
      for (const p of ['/status', '/health', '/healthz', '/metrics', '/']) {
        assert.ok(!(await get(`http://${server.address}${p}`)).body.includes(privateKey), `${kind} ${p} shows the private key`)
      }
      assert.ok(calls >= 3, `${kind}: dump() called ${calls} times`)
    } finally {
      server.stop()
    }
    assert.equal(server.isRunning, false)
  }
})

test('status server: a failing dump function is a 503 with the reason, never a crash', async () => {
  const badDump = cases.errors.find((e) => !e.all && e.dump.includes('SECRET'))
  const failures = [
    ['throws', () => { throw new Error('no dump today') }, 'io_other', 'no dump today'],
    ['throws a string', () => { throw 'plain string thrown' }, 'io_other', 'plain string thrown'],
    ['rejects', async () => { throw new Error('no async dump today') }, 'io_other', 'no async dump today'],
    ['returns a number', () => 42, 'io_other', 'not number'],
    ['returns nothing', () => undefined, 'io_other', 'not undefined'],
    ['resolves to an object', async () => ({ dump: 'text' }), 'io_other', 'not object'],
    ['returns a malformed dump', () => badDump.dump, badDump.code, 'wg show dump:1'],
  ]
  for (const [name, dump, code, reason] of failures) {
    const server = w.StatusServer.start('127.0.0.1:0', 'wm0', { dump })
    try {
      const { status, body } = await get(`http://${server.address}/status`)
      assert.equal(status, 503, name)
      const doc = JSON.parse(body)
      assert.equal(doc.error, code, `${name}: ${body}`)
      assert.ok(doc.message.includes(reason), `${name}: ${body}`)
      assert.ok(!body.includes('SECRET'), `${name}: ${body}`)
      const healthz = await get(`http://${server.address}/healthz`)
      assert.equal(healthz.status, 503, name)
      assert.ok(healthz.body.includes(`error[${code}]`), `${name}: ${healthz.body}`)
      assert.ok(server.isRunning, name)
    } finally {
      server.stop()
    }
  }
  // The server keeps serving after failures: a dump that fails once, then answers.
  let first = true
  const flaky = () => {
    if (first) {
      first = false
      throw new Error('not yet')
    }
    return cases.cases[0].dump
  }
  const server = w.StatusServer.start('127.0.0.1:0', 'wm-hub', { dump: flaky })
  try {
    assert.equal((await get(`http://${server.address}/status`)).status, 503)
    assert.equal((await get(`http://${server.address}/status`)).status, 200)
  } finally {
    server.stop()
  }
})

test('status server: DNS endpoints are checked on request', async () => {
  const c = cases.cases.find((x) => x.name === 'node-1-dns-endpoint')
  const plan = w.plan(w.Mesh.fromToml(c.mesh))
  for (const resolveEndpoints of [false, true]) {
    const server = w.StatusServer.start('127.0.0.1:0', 'wm-n1', { dump: () => c.dump, plan, node: 'node-1', resolveEndpoints })
    try {
      const { status, body } = await get(`http://${server.address}/health`)
      assert.equal(status, 503, body) // the vector's handshakes are from 2025: stale now
      const codes = JSON.parse(body).problems.map((p) => p.code)
      assert.equal(codes.includes('wrong_endpoint'), resolveEndpoints, `${resolveEndpoints}: ${codes}`)
    } finally {
      server.stop()
    }
  }
})

test('status server: a dump that never answers times out (bounded), then the server still serves', { timeout: 30000 }, async () => {
  const server = w.StatusServer.start('127.0.0.1:0', 'wm0', { dump: () => new Promise(() => {}) })
  try {
    const started = Date.now()
    const { status, body } = await get(`http://${server.address}/status`)
    const waited = Date.now() - started
    assert.equal(status, 503, body)
    assert.equal(JSON.parse(body).error, 'io_other')
    assert.match(body, /no dump text within 5 s/)
    assert.ok(waited >= 4500 && waited < 15000, `answered after ${waited} ms`)
    assert.equal((await get(`http://${server.address}/nope`)).status, 404)
  } finally {
    server.stop()
  }
})

test('status server: dump and wg together, or a dump that is not a function, are argument errors', () => {
  const dump = () => cases.cases[0].dump
  assert.throws(() => w.StatusServer.start('127.0.0.1:0', 'wm0', { dump, wg: true }), { code: 'InvalidArg', message: /dump or wg, not both/ })
  assert.throws(() => w.StatusServer.start('127.0.0.1:0', 'wm0', { dump: 'text' }))
  assert.throws(() => w.StatusServer.start('127.0.0.1:0', 'wm0', { node: 'hub', dump }), { code: 'io_other' })
  const first = w.StatusServer.start('127.0.0.1:0', 'wm0', { dump: () => '' })
  try {
    assert.throws(() => w.StatusServer.start(first.address, 'wm0', { dump }), (err) => err.code.startsWith('io_'))
  } finally {
    first.stop()
  }
})

test('status server: with a dump function, a prober gets its targets from the first request', { skip: root ? false : 'ICMP sockets need root here' }, async () => {
  // One peer whose overlay address is loopback: the prober only ever pings 127.0.0.1.
  const [iface, peer] = cases.cases[0].dump.split('\n')
  const fields = peer.split('\t')
  fields[2] = '(none)'
  fields[3] = '127.0.0.1/32'
  const text = `${iface}\n${fields.join('\t')}\n`
  let calls = 0
  const prober = new w.Prober({ intervalMs: 1000, timeoutMs: 500, window: 3 })
  try {
    const started = Date.now()
    const server = w.StatusServer.start('127.0.0.1:0', 'wm0', { dump: () => (calls++, text), prober })
    try {
      // The start-up read runs on the JavaScript thread, which cannot answer it: it is skipped, not waited for.
      assert.ok(Date.now() - started < 2000, `start took ${Date.now() - started} ms`)
      assert.equal(calls, 0)
      assert.deepEqual(prober.targets, [])
      const { status, body } = await get(`http://${server.address}/status`)
      assert.equal(status, 200, body)
      assert.equal(calls, 1)
      assert.deepEqual(prober.targets, ['127.0.0.1'])
    } finally {
      server.stop()
    }
  } finally {
    prober.stop()
  }
})
