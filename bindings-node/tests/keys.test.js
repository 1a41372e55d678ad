'use strict'
const test = require('node:test')
const assert = require('node:assert/strict')
const path = require('node:path')
const fs = require('node:fs')
const { PrivateKey, PublicKey, PresharedKey } = require('..')
const { VECTORS, readJson, tempDir } = require('./helpers')

const keys = readJson(path.join(VECTORS, 'keys.json'))

test('key pairs match wg genkey / wg pubkey', () => {
  assert.ok(keys.pairs.length > 0)
  for (const pair of keys.pairs) {
    const priv = PrivateKey.fromBase64(pair.private)
    assert.equal(priv.publicKey().toBase64(), pair.public)
    assert.equal(priv.toHex(), pair.private_hex)
    assert.equal(PrivateKey.fromHex(pair.private_hex).toBase64(), pair.private)
    const pub = PublicKey.fromHex(pair.public_hex)
    assert.equal(pub.toBase64(), pair.public)
    assert.equal(pub.toHex(), pair.public_hex)
    assert.ok(pub.equals(PublicKey.fromBase64(pair.public)))
    assert.equal(String(pub), pair.public)
    assert.equal(JSON.stringify({ pub }), JSON.stringify({ pub: pair.public }))
  }
})

test('unclamped private keys are clamped', () => {
  const u = keys.unclamped
  const key = PrivateKey.fromBase64(u.private)
  assert.equal(key.toBase64(), u.clamped)
  assert.equal(key.publicKey().toBase64(), u.public)
})

test('preshared keys', () => {
  const psk = PresharedKey.fromBase64(keys.preshared.base64)
  assert.equal(psk.toHex(), keys.preshared.hex)
  assert.ok(psk.equals(PresharedKey.fromHex(keys.preshared.hex)))
  const [a, b] = keys.pairs.map((p) => PublicKey.fromBase64(p.public))
  const ab = PresharedKey.deriveForPair(psk, a, b)
  const ba = PresharedKey.deriveForPair(psk, b, a)
  assert.ok(ab.equals(ba), 'the pair key is the same from both sides')
  assert.ok(!ab.equals(psk))
})

test('generated keys are distinct and round-trip', () => {
  const a = PrivateKey.generate()
  const b = PrivateKey.generate()
  assert.ok(!a.equals(b))
  assert.ok(a.equals(PrivateKey.fromBase64(a.toBase64())))
  assert.ok(PresharedKey.generate().toBase64().endsWith('='))
})

test('key files: save 0600, load back, errors have codes', async (t) => {
  const dir = tempDir(t)
  const file = path.join(dir, 'node.key')
  const key = PrivateKey.generate()
  await key.save(file)
  assert.equal(fs.statSync(file).mode & 0o777, 0o600)
  assert.ok((await PrivateKey.load(file)).equals(key))
  const psk = PresharedKey.generate()
  await psk.save(path.join(dir, 'psk'))
  assert.ok((await PresharedKey.load(path.join(dir, 'psk'))).equals(psk))
  await assert.rejects(PrivateKey.load(path.join(dir, 'missing.key')), { code: 'io_not_found', family: 'io' })
  fs.writeFileSync(path.join(dir, 'bad.key'), 'not a key\n')
  await assert.rejects(PrivateKey.load(path.join(dir, 'bad.key')), (err) => {
    assert.equal(err.code, 'key_in_file')
    assert.equal(err.path, path.join(dir, 'bad.key'))
    return true
  })
})
