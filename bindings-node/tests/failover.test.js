'use strict'
// Redundant relays: failover tables, plans with relays down and the failover proof, against the shared
// *.failover.json vectors.
const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const { Mesh, plan, planWithRelaysDown, checkFailover, verifyFailover } = require('..')
const { VECTORS, readJson } = require('./helpers')

const MESHES = path.join(VECTORS, 'meshes')

test('failover vectors: proof and plans with each relay down', async () => {
  const files = fs.readdirSync(MESHES).filter((f) => f.endsWith('.failover.json')).sort()
  assert.ok(files.length >= 1)
  for (const file of files) {
    const expected = readJson(path.join(MESHES, file))
    const mesh = await Mesh.load(path.join(MESHES, file.replace(/\.failover\.json$/, '.toml')))
    const proof = verifyFailover(mesh)
    assert.deepEqual(proof, {
      relaysChecked: expected.proof.relays_checked,
      pairsProven: expected.proof.pairs_proven,
      pairsFailedOver: expected.proof.pairs_failed_over,
      pairsWithoutBackup: expected.proof.pairs_without_backup,
    })
    const checked = checkFailover(mesh)
    assert.deepEqual(checked.problems, [])
    assert.deepEqual(checked.proof, proof)
    for (const [relay, planned] of Object.entries(expected.relays_down)) {
      assert.deepEqual(JSON.parse(planWithRelaysDown(mesh, [relay]).toJson()), planned, `${file}: ${relay} down`)
    }
  }
})

test('failover table, and spokes move to the backup hub', async () => {
  const mesh = await Mesh.load(path.join(MESHES, 'redundant-hubs.toml'))
  const spoke = plan(mesh).node('spoke-1')
  assert.deepEqual(spoke.failover, [{ node: 'spoke-2', prefixes: ['10.77.0.12/32'], primary: 'hub-a', backups: ['hub-b'] }])
  const down = planWithRelaysDown(mesh, ['hub-a']).node('spoke-1')
  assert.deepEqual(down.peers.find((p) => p.name === 'hub-b').allowedIps, ['10.77.0.0/24'])
  assert.deepEqual(down.peers.find((p) => p.name === 'hub-a').allowedIps, ['10.77.0.1/32'])
  assert.equal(down.routes.find((r) => r.node === 'spoke-2').via, 'hub-b')
  const both = planWithRelaysDown(mesh, ['hub-a', 'hub-b']).node('spoke-1')
  assert.equal(both.routes.find((r) => r.node === 'spoke-2').reach, 'blocked')
  assert.throws(() => planWithRelaysDown(mesh, ['spoke-2']), { code: 'mesh_unknown_node' })
})

test('a single hub has no backup', async () => {
  const mesh = await Mesh.load(path.join(MESHES, 'seed-hub-and-spoke.toml'))
  const proof = verifyFailover(mesh)
  assert.equal(proof.pairsFailedOver, 0)
  assert.ok(proof.pairsWithoutBackup > 0)
})
