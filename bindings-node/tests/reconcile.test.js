'use strict'
// Live reconfiguration: the shared vectors (tests/vectors/reconcile), describe() without secrets,
// applyUpdate(), and apply() through a UapiClient against a fake device that keeps its state.

const test = require('node:test')
const assert = require('node:assert/strict')
const path = require('node:path')
const w = require('..')
const { VECTORS, readJson, fakeDevice } = require('./helpers')

const DIR = path.join(VECTORS, 'reconcile')
const doc = readJson(path.join(DIR, 'cases.json'))
const planOf = async (file) => w.plan(await w.Mesh.load(path.join(DIR, file)))
const isEmpty = (update) =>
  update.privateKey === undefined &&
  update.listenPort === undefined &&
  update.fwmark === undefined &&
  !update.replacePeers &&
  update.peers.length === 0

test('reconcile vectors: diff, describe, applyUpdate', async () => {
  const plan = await planOf(doc.mesh)
  assert.ok(doc.cases.length >= 5)
  for (const c of doc.cases) {
    const state = w.parseUapiGetResponse(c.state)
    const update = w.diff(plan, c.node, state)
    assert.equal(w.renderUapiSetRequest(update), c.update, c.name)
    assert.deepEqual(
      w.describe(update, plan, c.node).map((change) => change.text),
      c.changes,
      c.name,
    )
    const after = w.applyUpdate(state, update)
    assert.ok(isEmpty(w.diff(plan, c.node, after)), c.name)
  }
  for (const c of doc.errors) {
    const casePlan = c.mesh ? await planOf(c.mesh) : plan
    const state = w.parseUapiGetResponse(c.state)
    assert.throws(() => w.diff(casePlan, c.node, state), (err) => w.isWiremeshError(err) && err.code === c.code, c.name)
  }
})

test('describe: plain objects, secrets described but never shown', async () => {
  const plan = await planOf(doc.mesh)
  const drift = doc.cases.find((c) => c.name.startsWith('drift'))
  const changes = w.describe(w.diff(plan, 'n2', w.parseUapiGetResponse(drift.state)), plan, 'n2')
  assert.deepEqual(
    changes.map((c) => c.change),
    ['remove_peer', 'update_peer', 'update_peer'],
  )
  assert.equal(changes[1].peer, 'hub')
  // Something must go from the hub's AllowedIPs: the whole list is replaced (no allowed_ip=- lines).
  assert.equal(changes[1].allowed_ips_replaced, true)
  assert.deepEqual(changes[1].allowed_ips_added, ['10.88.0.0/24'])
  assert.deepEqual(changes[1].allowed_ips_removed, [])
  const key = w.PrivateKey.generate()
  const psk = w.PresharedKey.generate()
  const peer = plan.node('n2').peers[0].publicKey
  const described = w.describe(
    { privateKey: key, peers: [{ publicKey: peer, updateOnly: true, presharedKey: psk }] },
    plan,
    'n2',
  )
  const text = JSON.stringify(described)
  for (const secret of [key.toBase64(), key.toHex(), psk.toBase64(), psk.toHex()]) {
    assert.ok(!text.includes(secret))
  }
  assert.equal(described[0].change, 'private_key')
  assert.equal(described[1].preshared_key, 'set')
  assert.throws(() => w.describe({ peers: [] }, plan, 'nobody'), { code: 'mesh_unknown_node' })
})

/**
 * A fake device keeping a DeviceState: get renders it, set applies the request with applyUpdate (or,
 * with `refuse`, answers that and changes nothing). Accepted set requests are kept in `sets`.
 */
async function statefulDevice(t, state, refuse) {
  const device = { state, sets: [] }
  const answer = (request) => {
    if (request === 'get=1\n\n') return w.renderUapiGetResponse(device.state)
    if (refuse) return refuse
    device.sets.push(request)
    device.state = w.applyUpdate(device.state, w.parseUapiSetRequest(request))
    return w.renderUapiErrno(0)
  }
  device.path = (await fakeDevice(t, answer)).path
  return device
}

test('apply through a UapiClient: dry run, apply, nothing left; the untouched peer keeps its stats', async (t) => {
  const plan = await planOf(doc.mesh)
  const drift = doc.cases.find((c) => c.name.startsWith('drift'))
  const state = w.parseUapiGetResponse(drift.state)
  const device = await statefulDevice(t, state)
  const client = await w.UapiClient.connectPath(device.path)
  t.after(() => client.close())
  const dry = await w.apply(plan, 'n2', client, { dryRun: true })
  assert.equal(dry.applied, false)
  assert.deepEqual(
    dry.changes.map((c) => c.text),
    drift.changes,
  )
  assert.equal(w.renderUapiSetRequest(dry.update), drift.update)
  assert.deepEqual(device.sets, [])
  // Calls are queued in order: a get made right after apply sees the applied state.
  const [done, after] = await Promise.all([w.apply(plan, 'n2', client), client.get()])
  assert.equal(done.applied, true)
  assert.deepEqual(device.sets, [drift.update])
  assert.equal(after.peers.length, 3)
  const again = await w.apply(plan, 'n2', client)
  assert.equal(again.applied, false)
  assert.deepEqual(again.changes, [])
  const n3 = plan.node('n2').peers.find((p) => p.name === 'n3').publicKey
  const before3 = state.peers.find((p) => p.publicKey === n3)
  const after3 = after.peers.find((p) => p.publicKey === n3)
  assert.deepEqual(after3, before3)
})

test('apply: a refusing device, a dry run on it, an unknown node', async (t) => {
  const plan = await planOf(doc.mesh)
  const fresh = doc.cases.find((c) => c.name.startsWith('fresh'))
  const device = await statefulDevice(t, w.parseUapiGetResponse(fresh.state), w.renderUapiErrno(22))
  const client = await w.UapiClient.connectPath(device.path)
  t.after(() => client.close())
  await assert.rejects(w.apply(plan, 'n2', client), { code: 'uapi_errno', errno: 22 })
  const dry = await w.apply(plan, 'n2', client, { dryRun: true })
  assert.equal(dry.applied, false)
  assert.equal(dry.changes.length, 3)
  await assert.rejects(w.apply(plan, 'nobody', client), { code: 'mesh_unknown_node' })
})
