'use strict'
// Device (Linux): the checks that come before any interface is created, so they need no root. The
// running device itself is tested as root in namespaces by tests/netns/device.sh `inproc`.
const test = require('node:test')
const assert = require('node:assert/strict')
const util = require('node:util')
const w = require('..')

const linux = process.platform === 'linux'

function smallPlan(aEndpoint = '192.0.2.1:51820') {
  const mesh = new w.Mesh({ name: 't', networks: ['10.66.0.0/24'] })
  mesh.addNode({ name: 'a', endpoint: aEndpoint })
  mesh.addNode({ name: 'b', endpoint: '192.0.2.2:51820' })
  // c only publishes its public key: its private key is not in the plan.
  mesh.addNode({ name: 'c', publicKey: w.PrivateKey.generate().publicKey().toBase64() })
  mesh.generateMissing()
  return w.plan(mesh)
}

async function rejectsWith(promise, code) {
  await assert.rejects(promise, (err) => {
    assert.ok(err instanceof Error)
    assert.equal(err.code, code, err.message)
    return true
  })
}

test('Device is exported with its API', { skip: !linux && 'the userspace device runs on Linux only' }, () => {
  assert.equal(typeof w.Device, 'function')
  for (const name of ['start', 'startNode']) assert.equal(typeof w.Device[name], 'function', name)
  for (const name of ['state', 'counters', 'offloads', 'apply', 'stop', 'toString']) {
    assert.equal(typeof w.Device.prototype[name], 'function', name)
  }
  assert.throws(() => new w.Device())
})

test('bad interface names are refused before anything is created', { skip: !linux }, async () => {
  const plan = smallPlan()
  for (const ifname of ['', 'a/b', 'has space', 'sixteen-chars-xx', 'a:b', '..']) {
    for (const uapi of [true, false]) {
      await rejectsWith(w.Device.start({ ifname, uapi }), 'io_other')
      await rejectsWith(w.Device.startNode(plan, 'a', { ifname, uapi }), 'io_other')
    }
  }
})

test('plan errors: unknown node, a key not in the plan, an unresolvable DNS endpoint', { skip: !linux }, async () => {
  await rejectsWith(w.Device.startNode(smallPlan(), 'nobody', { ifname: 'wmjstest0' }), 'mesh_unknown_node')
  await rejectsWith(w.Device.startNode(smallPlan(), 'c', { ifname: 'wmjstest0' }), 'mesh_missing_key')
  const plan = smallPlan('nowhere.invalid:51820') // .invalid never resolves (RFC 6761)
  await assert.rejects(w.Device.startNode(plan, 'b', { ifname: 'wmjstest0', uapi: false }), (err) => {
    assert.equal(err.code, 'plan_unresolved_endpoint')
    assert.equal(err.family, 'plan')
    assert.deepEqual([err.node, err.peer, err.endpoint], ['b', 'a', 'nowhere.invalid:51820'])
    assert.match(err.message, /nowhere\.invalid/)
    return true
  })
})

test('arguments are checked', { skip: !linux }, () => {
  assert.throws(() => w.Device.startNode({}, 'a', { ifname: 'wm0' }))
  assert.throws(() => w.Device.start({}))
  // util.inspect goes through toString (interface and status, never a key).
  assert.equal(typeof w.Device.prototype[util.inspect.custom], 'function')
})

test('offload options are accepted and typed', { skip: !linux }, async () => {
  // Accepted: the bad name is what fails, before anything is created.
  await rejectsWith(w.Device.start({ ifname: 'bad/name', offload: false, socketBufferBytes: 1 << 20 }), 'io_other')
  await rejectsWith(w.Device.startNode(smallPlan(), 'a', { ifname: 'bad/name', offload: true }), 'io_other')
  assert.throws(() => w.Device.start({ ifname: 'wm0', offload: 'no' }))
  assert.throws(() => w.Device.start({ ifname: 'wm0', socketBufferBytes: 'big' }))
  await rejectsWith(w.Device.start({ ifname: 'bad/name', tunQueueLen: 1000 }), 'io_other')
  assert.throws(() => w.Device.start({ ifname: 'wm0', tunQueueLen: 'long' }))
  for (const helperThreads of [true, false]) {
    await rejectsWith(w.Device.start({ ifname: 'bad/name', helperThreads }), 'io_other')
    await rejectsWith(w.Device.startNode(smallPlan(), 'a', { ifname: 'bad/name', helperThreads }), 'io_other')
  }
  assert.throws(() => w.Device.start({ ifname: 'wm0', helperThreads: 'yes' }))
})
