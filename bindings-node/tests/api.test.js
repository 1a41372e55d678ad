'use strict'
const test = require('node:test')
const assert = require('node:assert/strict')
const w = require('..')
const { Mesh, Pool, PrivateKey, PublicKey, plan, verify } = w

test('pools: sequential, static, reserved, key-derived, release', () => {
  const pool = new Pool('10.88.0.0/29')
  assert.equal(pool.network, '10.88.0.0/29')
  assert.equal(pool.capacity, 6n)
  pool.reserve('10.88.0.1')
  assert.deepEqual(pool.reservations, ['10.88.0.1'])
  assert.equal(pool.allocate(), '10.88.0.2')
  pool.assign('10.88.0.6')
  assert.ok(pool.isAllocated('10.88.0.6') && pool.isReserved('10.88.0.1') && pool.contains('10.88.0.7'))
  assert.ok(!pool.contains('10.88.1.1'))
  const key = PrivateKey.generate().publicKey()
  const derived = pool.allocateForKey(key)
  assert.ok(pool.isAllocated(derived))
  const other = new Pool('10.88.0.0/29')
  assert.equal(other.allocateForKey(key.toBase64()), other.allocated()[0], 'a PublicKey or its base64')
  assert.equal(pool.allocatedCount, 3)
  pool.release('10.88.0.2')
  assert.deepEqual(pool.allocated(), [derived, '10.88.0.6'].sort())
  const batch = new Pool('fd00::/120').allocateForKeys([PrivateKey.generate().publicKey(), PrivateKey.generate().publicKey().toBase64()])
  assert.equal(batch.length, 2)
  assert.equal(String(pool), 'Pool(10.88.0.0/29, 2 allocated)')
  assert.throws(() => pool.allocateForKey('nope'), { code: 'key_invalid_base64' })
  assert.throws(() => w.parseReservation('10.0.0.9-10.0.0.1'), { code: 'ipam_invalid_reservation' })
  assert.throws(() => pool.reserve('10.99.0.0/30'), { code: 'ipam_outside_network' })
})

test('names, endpoints, reservations, safe values', () => {
  assert.equal(w.validateName('node-1'), 'node-1')
  assert.ok(w.MAX_NAME_LEN > 0)
  assert.deepEqual(w.parseEndpoint('[2001:DB8::1]:51820'), { host: '2001:db8::1', port: 51820, text: '[2001:db8::1]:51820' })
  assert.deepEqual(w.parseEndpoint('VPN.Example.com:51820'), { host: 'vpn.example.com', port: 51820, text: 'vpn.example.com:51820' })
  assert.deepEqual(w.parseReservation('10.0.0.0/30'), { text: '10.0.0.0/30', first: '10.0.0.0', last: '10.0.0.3' })
  assert.ok(w.isSafeValue('echo hi') && !w.isSafeValue('a\nb'))
  assert.equal(w.keyDirName('/etc/wiremesh/seed.toml'), 'seed.keys')
  assert.deepEqual([...w.PROBLEM_CODES], w.problemCodes())
})

function seed() {
  const mesh = new Mesh({ name: 'seed', networks: ['10.88.0.0/24'] })
  mesh.addNode({ name: 'hub', endpoint: '167.172.142.145:51820', relay: true })
  for (const name of ['node-1', 'node-2', 'node-3']) mesh.addNode({ name })
  mesh.generateMissing()
  return mesh
}

test('importWgQuick rebuilds the mesh from its rendered configs', () => {
  const mesh = seed()
  const p = plan(mesh)
  const files = Object.fromEntries(p.renderAll().map((r) => [r.name, r.text]))
  const imported = w.importWgQuick(files, { name: 'seed' })
  assert.deepEqual(imported.nodes.map((n) => n.name), ['hub', 'node-1', 'node-2', 'node-3'])
  assert.equal(imported.node('hub').relay, true)
  assert.equal(imported.node('hub').endpoint, '167.172.142.145:51820')
  const again = plan(imported)
  verify(again)
  for (const name of again.nodeNames) assert.equal(again.render(name), p.render(name), name)
  assert.equal(w.importWgQuick(files).name, 'imported')
  assert.throws(() => w.importWgQuick({ hub: '[Interface]\nBogus = 1\n' }), (err) => {
    assert.equal(err.code, 'config_unknown_key')
    assert.equal(err.location.source, 'hub')
    return true
  })
  assert.throws(() => w.importWgQuick({ 'bad name': '' }), { code: 'mesh_invalid_name' })
})

test('importMeshconf reads a wg-meshconf database', () => {
  const [a, b] = [PrivateKey.generate(), PrivateKey.generate()]
  const csv = [
    'Name,Address,Endpoint,AllowedIPs,ListenPort,PersistentKeepalive,FwMark,PrivateKey,DNS,MTU,Table,PreUp,PostUp,PreDown,PostDown,SaveConfig',
    `alpha,10.9.0.1/24,192.0.2.1,,51820,,,${a.toBase64()},,,,,,,,`,
    `beta,10.9.0.2/24,192.0.2.2,192.168.5.0/24,51820,,,${b.toBase64()},,,,,,,,`,
  ].join('\n')
  const mesh = w.importMeshconf(csv, { name: 'office' })
  assert.equal(mesh.name, 'office')
  assert.deepEqual(mesh.settings.networks, ['10.9.0.0/24'])
  assert.deepEqual(mesh.node('beta').subnets, ['192.168.5.0/24'])
  assert.ok(mesh.node('alpha').privateKey.equals(a))
  verify(plan(mesh))
  assert.throws(() => w.importMeshconf('Name,Address\nx,10.0.0.1/24\n'), (err) => {
    assert.equal(err.code, 'config_missing_key')
    assert.equal(err.location.source, 'database.csv')
    return true
  })
})

test('renderDot draws the topology graph', () => {
  const dot = w.renderDot(plan(seed()))
  assert.match(dot, /^(di)?graph /)
  for (const name of ['hub', 'node-1', 'node-2', 'node-3']) assert.ok(dot.includes(name), name)
})

test('a public key object is accepted where keys are compared', () => {
  const key = PrivateKey.generate()
  assert.ok(key.publicKey().equals(PublicKey.fromBase64(key.publicKey().toBase64())))
})
