'use strict'
// examples/node/seed.js: the seed deployment built in code, verified and written out.
const test = require('node:test')
const assert = require('node:assert/strict')
const { execFileSync } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')
const { parseWgQuick } = require('..')
const { tempDir } = require('./helpers')

const script = path.resolve(__dirname, '..', '..', 'examples', 'node', 'seed.js')

test('examples/node/seed.js plans, proves and writes the seed deployment', (t) => {
  const out = path.join(tempDir(t), 'seed')
  const stdout = execFileSync(process.execPath, [script, out], { encoding: 'utf8' })
  assert.match(stdout, /== full-mesh: 12 ordered pairs proven \(6 through the hub\)/)
  assert.match(stdout, /node-1 {2}1 peer\(s\): hub direct, node-2 via hub, node-3 via hub/)
  assert.match(stdout, /wrote 4 files to /)
  assert.equal(fs.statSync(out).mode & 0o777, 0o700)
  assert.deepEqual(fs.readdirSync(out).sort(), ['hub.conf', 'node-1.conf', 'node-2.conf', 'node-3.conf'])
  for (const file of fs.readdirSync(out)) {
    assert.equal(fs.statSync(path.join(out, file)).mode & 0o777, 0o600, file)
  }
  const hub = parseWgQuick(fs.readFileSync(path.join(out, 'hub.conf'), 'utf8'))
  assert.equal(hub.interface.listenPort, 51820)
  assert.deepEqual(hub.peers.map((p) => p.name), ['node-1', 'node-2', 'node-3'])
  const node3 = fs.readFileSync(path.join(out, 'node-3.conf'), 'utf8')
  assert.doesNotMatch(node3, /PrivateKey/, 'node-3 keeps its key on the machine')
  assert.match(node3, /PostUp = wg set %i private-key \/etc\/wireguard\/wiremesh.key/)
  const node1 = parseWgQuick(fs.readFileSync(path.join(out, 'node-1.conf'), 'utf8'))
  assert.deepEqual(node1.peers[0].allowedIps, ['10.88.0.0/24'])
  assert.equal(node1.peers[0].endpoint, '167.172.142.145:51820')
  assert.equal(node1.peers[0].persistentKeepalive, 25)
})
