'use strict'
const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const { parseWgQuick, parseSetconf, renderWgQuick, renderSetconf, PrivateKey } = require('..')
const { VECTORS, readJson, confVectors, configToVector, configFromVector } = require('./helpers')

const CONFIGS = path.join(VECTORS, 'configs')

test('valid config vectors parse to the expected model and round-trip', () => {
  const vectors = confVectors(CONFIGS)
  assert.ok(vectors.length >= 4)
  for (const v of vectors) {
    const text = fs.readFileSync(v.conf, 'utf8')
    const config = parseWgQuick(text, v.name)
    assert.deepEqual(configToVector(config), readJson(v.json), v.name)
    const rendered = renderWgQuick(config)
    assert.deepEqual(configToVector(parseWgQuick(rendered, v.name)), readJson(v.json), `${v.name}: render/parse`)
    // The same model built from the vector's JSON renders the same text.
    assert.equal(renderWgQuick(configFromVector(readJson(v.json))), rendered, `${v.name}: from JSON`)
  }
})

test('invalid config vectors fail with the expected code and location, without secrets', () => {
  const vectors = confVectors(path.join(CONFIGS, 'invalid'))
  assert.ok(vectors.length > 0)
  for (const v of vectors) {
    const expected = readJson(v.json)
    const text = fs.readFileSync(v.conf, 'utf8')
    assert.throws(
      () => parseWgQuick(text, v.name),
      (err) => {
        assert.ok(err instanceof Error)
        assert.equal(err.code, expected.code, v.name)
        assert.equal(err.family, 'config')
        assert.deepEqual(
          { line: err.location.line, section: err.location.section, key: err.location.key, source: err.location.source },
          { line: expected.line, section: expected.section, key: expected.key, source: v.name },
          v.name,
        )
        for (const secret of expected.must_not_contain ?? []) {
          assert.ok(!err.message.includes(secret), `${v.name}: message reveals a secret`)
          assert.ok(!JSON.stringify(err).includes(secret), `${v.name}: JSON reveals a secret`)
          assert.ok(!require('node:util').inspect(err).includes(secret), `${v.name}: inspect reveals a secret`)
        }
        return true
      },
      v.name,
    )
  }
})

test('setconf dialect: wg-quick keys refused, stripped rendering', () => {
  const text = fs.readFileSync(path.join(CONFIGS, 'hooks-dns-table.conf'), 'utf8')
  assert.throws(() => parseSetconf(text), { code: 'config_unknown_key' })
  const config = parseWgQuick(text)
  const stripped = renderSetconf(config)
  assert.ok(!/^Address|^DNS|^PostUp/m.test(stripped))
  const again = parseSetconf(stripped)
  assert.deepEqual(again.peers.map((p) => p.publicKey), config.peers.map((p) => p.publicKey))
})

test('objects with bad values are refused with config codes', () => {
  const peer = { publicKey: PrivateKey.generate().publicKey().toBase64(), allowedIps: ['10.0.0.2/32'] }
  assert.throws(() => renderWgQuick({ interface: { addresses: ['nope'] }, peers: [] }), {
    code: 'config_invalid_value',
  })
  assert.throws(() => renderWgQuick({ peers: [{ ...peer, publicKey: 'short' }] }), (err) => {
    assert.equal(err.code, 'config_invalid_value')
    assert.deepEqual(err.location, { source: 'peers[0]', line: 0, section: 'Peer', key: 'PublicKey' })
    return true
  })
  assert.throws(() => renderWgQuick({ peers: [{ ...peer, endpoint: 'no port' }] }), { code: 'config_invalid_value' })
  assert.throws(() => renderWgQuick({ peers: [{ ...peer, name: 'a\n[Interface]' }] }), { code: 'config_unsafe_value' })
  assert.match(renderWgQuick({ peers: [peer] }), /^\[Interface\]\n\n\[Peer\]\nPublicKey = /)
})
