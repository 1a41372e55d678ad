'use strict'
const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const { Mesh, plan, verify, PrivateKey } = require('..')
const { VECTORS, readJson, camelize, dropNulls, tempDir } = require('./helpers')

const MESHES = path.join(VECTORS, 'meshes')
const meshFiles = fs
  .readdirSync(MESHES)
  .filter((f) => f.endsWith('.toml'))
  .sort()

// Plan objects: `plan.toJson()` / `JSON.stringify(plan)` are the wire format of the vectors
// (snake_case, compared as is); `plan.toObject()` is the same data in camelCase (compared with the
// camelCased vector, absent and null alike).
test('mesh vectors plan exactly as the *.plan.json files say', async () => {
  assert.ok(meshFiles.length >= 4)
  for (const file of meshFiles) {
    const mesh = await Mesh.load(path.join(MESHES, file))
    const p = plan(mesh)
    const proof = verify(p)
    assert.ok(proof.pairsProven > 0, file)
    const expected = readJson(path.join(MESHES, file.replace(/\.toml$/, '.plan.json')))
    assert.deepEqual(JSON.parse(p.toJson()), expected, `${file}: toJson`)
    assert.deepEqual(JSON.parse(JSON.stringify(p)), expected, `${file}: JSON.stringify`)
    assert.deepEqual(dropNulls(p.toObject()), dropNulls(camelize(expected)), `${file}: toObject`)
    for (const node of expected.nodes) {
      assert.deepEqual(dropNulls(p.node(node.name)), dropNulls(camelize(node)), `${file}: node ${node.name}`)
    }
    assert.equal(p.node('nobody'), null)
    assert.deepEqual(p.nodeNames, expected.nodes.map((n) => n.name))
    assert.equal(p.meshName, expected.mesh)
    assert.equal(p.topology, expected.topology)
    assert.deepEqual(p.networks, expected.networks)
  }
})

test('mesh round trips: TOML, JSON text, JSON.stringify, plain objects', async () => {
  for (const file of meshFiles) {
    const mesh = await Mesh.load(path.join(MESHES, file))
    const wire = JSON.parse(mesh.toJson())
    assert.deepEqual(JSON.parse(Mesh.fromJson(mesh.toJson()).toJson()), wire, `${file}: JSON`)
    assert.deepEqual(JSON.parse(Mesh.fromToml(mesh.toToml()).toJson()), wire, `${file}: TOML`)
    assert.deepEqual(JSON.parse(JSON.stringify(mesh)), wire, `${file}: JSON.stringify`)
    const object = mesh.toObject()
    assert.deepEqual(JSON.parse(Mesh.fromObject(object).toJson()), wire, `${file}: toObject/fromObject`)
    // Through JSON text too (as a control panel would store it).
    assert.deepEqual(JSON.parse(Mesh.fromObject(JSON.parse(JSON.stringify(object))).toJson()), wire, file)
    // The camelCase object is the wire format with camelCase keys.
    assert.deepEqual(JSON.parse(JSON.stringify(object.mesh)), camelize(wire.mesh), file)
    assert.deepEqual(JSON.parse(JSON.stringify(object.nodes)), camelize(wire.nodes), file)
    assert.deepEqual(plan(Mesh.fromObject(object)).toJson(), plan(mesh).toJson(), file)
  }
})

test('building a mesh in code: nodes, rules, settings, generateMissing, pool', () => {
  const mesh = new Mesh({ name: 'office', networks: ['10.88.0.0/24', 'fd88::/64'], topology: 'hub-and-spoke', presharedKeys: true, reserved: ['10.88.0.1-10.88.0.9'] })
  const hubKey = PrivateKey.generate()
  mesh.addNode({ name: 'hub', endpoint: '192.0.2.1:51820', relay: true, privateKey: hubKey, groups: ['core'] })
  mesh.addNode({ name: 'laptop', groups: ['staff'] })
  mesh.addNode({ name: 'nas', subnets: ['192.168.10.0/24'], groups: ['staff'] })
  mesh.addRule({ between: ['staff', 'staff'], link: 'relay' })
  assert.equal(mesh.name, 'office')
  assert.equal(mesh.settings.topology, 'hub-and-spoke')
  assert.deepEqual(mesh.rules, [{ between: ['staff', 'staff'], link: 'relay' }])
  const generated = mesh.generateMissing()
  assert.deepEqual(generated.keys, ['laptop', 'nas'])
  assert.equal(generated.addresses.length, 6)
  assert.equal(generated.presharedKeySeed, true)
  assert.ok(mesh.hasPresharedKeySeed)
  assert.deepEqual(mesh.node('hub').addresses, ['10.88.0.10', 'fd88::1'])
  assert.ok(mesh.node('hub').privateKey.equals(hubKey))
  assert.equal(mesh.node('nobody'), null)
  assert.deepEqual(mesh.generateMissing(), { keys: [], addresses: [], presharedKeySeed: false })
  const pool = mesh.pool(0)
  assert.equal(pool.allocatedCount, 3)
  assert.equal(pool.allocate(), '10.88.0.13')
  const p = plan(mesh)
  const proof = verify(p)
  assert.ok(proof.relayedPairs > 0)
  assert.equal(p.node('laptop').peers.length, 1)
  assert.ok(p.node('laptop').peers[0].hasPresharedKey)
  assert.match(p.render('laptop'), /PresharedKey = /)
  assert.match(p.render('laptop', 'setconf'), /PresharedKey = /)
  assert.doesNotMatch(p.render('laptop', 'setconf'), /^Address/m)
  assert.throws(() => p.render('laptop', 'yaml'), { code: 'mesh_invalid_value', field: 'format' })
  const removed = mesh.removeNode('nas')
  assert.equal(removed.name, 'nas')
  assert.equal(mesh.nodes.length, 2)
  mesh.validate()
})

test('save and load: keys in <stem>.keys (0700/0600), mesh file without secrets', async (t) => {
  const dir = tempDir(t)
  const mesh = new Mesh({ name: 'seed', networks: ['10.88.0.0/24'], presharedKeys: true })
  mesh.addNode({ name: 'hub', endpoint: '192.0.2.1:51820', relay: true })
  mesh.addNode({ name: 'node-1' })
  mesh.generateMissing()
  const file = path.join(dir, 'seed.toml')
  await mesh.save(file)
  assert.equal(fs.statSync(path.join(dir, 'seed.keys')).mode & 0o777, 0o700)
  for (const f of ['hub.key', 'node-1.key', 'preshared.seed']) {
    assert.equal(fs.statSync(path.join(dir, 'seed.keys', f)).mode & 0o777, 0o600, f)
  }
  const text = fs.readFileSync(file, 'utf8')
  assert.ok(!text.includes(mesh.node('hub').privateKey.toBase64()))
  assert.match(text, /private_key_file = "seed.keys\/hub.key"/)
  const loaded = await Mesh.load(file)
  assert.ok(loaded.node('hub').privateKey.equals(mesh.node('hub').privateKey))
  assert.equal(plan(loaded).render('node-1'), plan(mesh).render('node-1'))
  await assert.rejects(Mesh.load(path.join(dir, 'missing.toml')), { code: 'io_not_found' })
  await assert.rejects(mesh.save(path.join(dir, 'no', 'such', 'dir', 'x.toml')), (err) => err.family === 'io')
})
