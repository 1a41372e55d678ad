'use strict'
// The agent handle: events to a callback, status, stop — against a fake UAPI device served by this
// process (no root, no network: the node used has no relays to probe).
const test = require('node:test')
const assert = require('node:assert/strict')
const path = require('node:path')
const w = require('..')
const { fakeDevice, tempDir } = require('./helpers')

function twoHubs() {
  const mesh = new w.Mesh({ name: 't', networks: ['10.77.0.0/24'], topology: 'hub-and-spoke' })
  mesh.addNode({ name: 'hub-a', endpoint: '192.0.2.1:51820', relay: true, addresses: ['10.77.0.1'] })
  mesh.addNode({ name: 'hub-b', endpoint: '192.0.2.2:51820', relay: true, addresses: ['10.77.0.2'] })
  mesh.addNode({ name: 's1', addresses: ['10.77.0.11'] })
  mesh.addNode({ name: 's2', addresses: ['10.77.0.12'] })
  mesh.generateMissing()
  return mesh
}

/** Answers get=1 with an empty device and keeps the set=1 requests in `sets`. */
async function emptyDevice(t) {
  const sets = []
  const device = await fakeDevice(t, (request) => {
    if (request.startsWith('set=1\n')) sets.push(request)
    return 'errno=0\n\n'
  })
  return { path: device.path, sets }
}

async function waitUntil(predicate, ms = 10000) {
  const deadline = Date.now() + ms
  while (!predicate()) {
    assert.ok(Date.now() < deadline, 'timed out')
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

test('Agent: configures the device, reports events, stops', async (t) => {
  const device = await emptyDevice(t)
  const events = []
  const agent = new w.Agent(twoHubs(), 'hub-a', { interface: 'wm0', socketPath: device.path, tick: 0.1 }, (e) => events.push(e))
  assert.equal(agent.running, true)
  await waitUntil(() => device.sets.length >= 2 && events.filter((e) => e.event === 'applied').length >= 2)
  const status = agent.status()
  assert.equal(status.node, 'hub-a')
  assert.equal(status.device_present, true)
  assert.deepEqual(status.relays, [])
  assert.ok(status.updates_applied >= 2)
  await agent.stop()
  assert.equal(agent.running, false)
  assert.equal(agent.status().running, false)
  await agent.stop()
  await waitUntil(() => events.at(-1)?.event === 'stopped')
  assert.deepEqual(events[0], { event: 'started', node: 'hub-a', interface: 'wm0', relays: [] })
  const applied = events.filter((e) => e.event === 'applied')
  assert.equal(applied[0].reason, 'initial')
  assert.equal(applied[1].reason, 'drift')
  assert.deepEqual(applied[0].changes.filter((c) => c.change === 'add_peer').map((c) => c.peer).sort(), ['hub-b', 's1', 's2'])
  assert.equal(w.parseUapiSetRequest(device.sets[0]).peers.length, 3)
  // The private key change names only the public key.
  const keyChanges = applied[0].changes.filter((c) => c.change === 'private_key')
  assert.deepEqual(keyChanges.map((c) => Object.keys(c).sort()), [['change', 'public_key']])
})

test('Agent: a missing device is an event; status shows relays and routes', async (t) => {
  const events = []
  const dir = tempDir(t, 'wm-agent-')
  const agent = new w.Agent(twoHubs(), 's1', { interface: 'wm1', socketPath: path.join(dir, 'none.sock'), tick: 0.1 }, (e) => events.push(e))
  t.after(() => agent.stop())
  await waitUntil(() => events.some((e) => e.event === 'device_missing'))
  const status = agent.status()
  assert.equal(status.device_present, false)
  assert.deepEqual(status.relays.map((r) => [r.relay, r.health]), [['hub-a', 'up'], ['hub-b', 'up']])
  assert.deepEqual(status.routes, [{ node: 's2', via: 'hub-a' }])
})

test('Agent: bad arguments throw typed errors', () => {
  assert.throws(() => new w.Agent(twoHubs(), 'nobody', { interface: 'wm2' }), { code: 'mesh_unknown_node' })
  assert.throws(() => new w.Agent(twoHubs(), 's1', { interface: 'bad/name' }), { code: 'io_other' })
  assert.throws(() => new w.Agent(twoHubs(), 's1', { interface: 'wm3', holdDown: -1 }), /holdDown/)
})
