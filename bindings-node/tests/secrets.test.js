'use strict'
// util.inspect, JSON.stringify and toString of any object never reveal a private or preshared key.
const test = require('node:test')
const assert = require('node:assert/strict')
const util = require('node:util')
const w = require('..')

function seedWithSecrets() {
  const mesh = new w.Mesh({ name: 'seed', networks: ['10.88.0.0/24'], presharedKeys: true })
  mesh.addNode({ name: 'hub', endpoint: '167.172.142.145:51820', relay: true })
  mesh.addNode({ name: 'node-1' })
  mesh.addNode({ name: 'node-2' })
  mesh.generateMissing()
  return mesh
}

/** Every secret in a rendered config: PrivateKey and PresharedKey values. */
function secretsIn(text) {
  return [...text.matchAll(/^(?:PrivateKey|PresharedKey) = (\S+)$/gm)].map((m) => m[1])
}

function assertHides(value, secrets, label) {
  const shown = [
    util.inspect(value, { depth: Infinity, showHidden: true }),
    util.format('%o %O %s %j', value, value, value, value),
    String(JSON.stringify(value)),
    (() => {
      try {
        return String(value)
      } catch {
        return ''
      }
    })(),
  ]
  for (const secret of secrets) {
    for (const text of shown) {
      assert.ok(!text.includes(secret), `${label} reveals a secret: ${text.slice(0, 200)}`)
      assert.ok(!text.includes(Buffer.from(secret, 'base64').toString('hex')), `${label} reveals a secret in hex`)
    }
  }
}

test('keys never show themselves', () => {
  const key = w.PrivateKey.generate()
  const psk = w.PresharedKey.generate()
  assert.equal(String(key), 'PrivateKey(<redacted>)')
  assert.equal(`${psk}`, 'PresharedKey(<redacted>)')
  assert.equal(util.inspect(key), 'PrivateKey(<redacted>)')
  assert.equal(util.inspect(psk), 'PresharedKey(<redacted>)')
  assert.equal(JSON.stringify(key), undefined)
  assert.equal(JSON.stringify({ key, psk }), '{}')
  assertHides(key, [key.toBase64()], 'PrivateKey')
  assertHides(psk, [psk.toBase64()], 'PresharedKey')
  assertHides({ nested: [{ key }] }, [key.toBase64()], 'nested PrivateKey')
  const pub = key.publicKey()
  assert.equal(util.inspect(pub), `PublicKey(${pub.toBase64()})`)
})

test('meshes, plans, configs and errors never show a secret', () => {
  const mesh = seedWithSecrets()
  const p = w.plan(mesh)
  const rendered = p.renderAll()
  const secrets = rendered.flatMap((r) => secretsIn(r.text))
  assert.ok(secrets.length >= 3 + 4, 'the rendered configs hold private and preshared keys')
  assertHides(mesh, secrets, 'Mesh')
  assertHides(mesh.toObject(), secrets, 'mesh.toObject()')
  assertHides(mesh.nodes, secrets, 'mesh.nodes')
  assert.ok(!mesh.toToml().includes(secrets[0]) && !mesh.toJson().includes(secrets[0]))
  assertHides(p, secrets, 'Plan')
  assertHides(p.toObject(), secrets, 'plan.toObject()')
  assert.ok(!p.toJson().includes(secrets[0]))
  assertHides(p.node('hub'), secrets, 'plan.node()')
  assertHides(w.check(p), secrets, 'check()')
  assertHides(mesh.pool(), secrets, 'Pool')
  for (const r of rendered) {
    const config = w.parseWgQuick(r.text)
    assertHides(config, secrets, `parsed config of ${r.name}`)
    assertHides(p.config(r.name), secrets, `plan.config(${r.name})`)
  }
  // Errors about secrets never echo them.
  const bad = rendered[0].text.replace(/PrivateKey = (\S+)/, (_, k) => `PrivateKey = ${k.slice(0, 40)}!!!=`)
  try {
    w.parseWgQuick(bad)
    assert.fail('should throw')
  } catch (err) {
    assertHides(err, secrets.map((s) => s.slice(0, 40)), 'config error')
  }
})

test('UAPI states, updates and their errors never show a secret', () => {
  const key = w.PrivateKey.generate()
  const psk = w.PresharedKey.generate()
  const peer = w.PrivateKey.generate().publicKey().toBase64()
  const secrets = [key.toBase64(), psk.toBase64()]
  const state = w.parseUapiGetResponse(
    w.renderUapiGetResponse({ privateKey: key, listenPort: 51820, peers: [{ publicKey: peer, presharedKey: psk, allowedIps: ['10.0.0.0/24'] }] }),
  )
  assert.ok(state.privateKey.equals(key) && state.peers[0].presharedKey.equals(psk))
  assertHides(state, secrets, 'DeviceState')
  assertHides(state.peers, secrets, 'PeerState[]')
  const json = JSON.parse(JSON.stringify(state))
  assert.ok(!('privateKey' in json) && !('presharedKey' in json.peers[0]), 'JSON.stringify leaves the keys out')
  assert.equal(json.listenPort, 51820)
  assert.match(util.inspect(state), /privateKey: PrivateKey\(<redacted>\)/)
  assert.match(util.inspect(state, { depth: 5 }), /presharedKey: PresharedKey\(<redacted>\)/)

  const text = w.renderUapiSetRequest({ privateKey: key, peers: [{ publicKey: peer, presharedKey: psk }] })
  assert.ok(text.includes(key.toHex()) && text.includes(psk.toHex()), 'the rendered request is what carries them')
  const update = w.parseUapiSetRequest(text)
  assertHides(update, secrets, 'DeviceUpdate')
  assertHides(update.peers[0], secrets, 'PeerUpdate')
  // Errors about a bad key never echo the key's text.
  const bad = text.replace(key.toHex(), `${key.toHex().slice(0, 60)}zzzz`)
  try {
    w.parseUapiSetRequest(bad)
    assert.fail('should throw')
  } catch (err) {
    assert.equal(err.code, 'uapi_invalid_value')
    assert.equal(err.key, 'private_key')
    assertHides(err, [key.toBase64()], 'uapi error')
    assert.ok(!util.inspect(err).includes(key.toHex().slice(0, 60)), 'uapi error reveals the hex key')
  }
})
