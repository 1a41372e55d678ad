'use strict'
// The UAPI (`get=1` / `set=1`): the shared transcripts, render → parse round trips, values refused
// before they reach the wire, and UapiClient against fake devices on unix sockets.
const test = require('node:test')
const assert = require('node:assert/strict')
const path = require('node:path')
const w = require('..')
const { VECTORS, readJson, tempDir, fakeDevice } = require('./helpers')

const transcripts = readJson(path.join(VECTORS, 'uapi', 'transcripts.json'))
const hexToBase64 = (hex) => Buffer.from(hex, 'hex').toString('base64')

/** A key object as its hex text, `null` kept (removal), absent kept absent. */
function keyHex(key) {
  if (key === undefined || key === null) return key
  return key.toHex()
}

/** A parsed DeviceUpdate in the transcripts' shape (snake_case, keys hex, absent fields omitted). */
function updateToVector(u) {
  const out = {}
  if (u.privateKey !== undefined) out.private_key = keyHex(u.privateKey)
  if (u.listenPort !== undefined) out.listen_port = u.listenPort
  if (u.fwmark !== undefined) out.fwmark = u.fwmark
  if (u.replacePeers) out.replace_peers = true
  out.peers = u.peers.map((p) => {
    const peer = { public_key: w.PublicKey.fromBase64(p.publicKey).toHex() }
    if (p.remove) peer.remove = true
    if (p.updateOnly) peer.update_only = true
    if (p.presharedKey !== undefined) peer.preshared_key = keyHex(p.presharedKey)
    if (p.endpoint !== undefined) peer.endpoint = p.endpoint
    if (p.persistentKeepaliveInterval !== undefined) peer.persistent_keepalive_interval = p.persistentKeepaliveInterval
    if (p.replaceAllowedIps) peer.replace_allowed_ips = true
    if (p.allowedIps.length > 0) peer.allowed_ips = p.allowedIps
    if (p.protocolVersion !== undefined) peer.protocol_version = p.protocolVersion
    return peer
  })
  return out
}

/** A DeviceUpdate object built from the transcripts' shape (hex public keys accepted as is). */
function updateFromVector(v) {
  const secret = (cls, hex) => (hex === null ? null : hex === undefined ? undefined : cls.fromHex(hex))
  return {
    privateKey: secret(w.PrivateKey, v.private_key),
    listenPort: v.listen_port,
    fwmark: v.fwmark,
    replacePeers: v.replace_peers,
    peers: v.peers.map((p) => ({
      publicKey: p.public_key,
      remove: p.remove,
      updateOnly: p.update_only,
      presharedKey: secret(w.PresharedKey, p.preshared_key),
      endpoint: p.endpoint,
      persistentKeepaliveInterval: p.persistent_keepalive_interval,
      replaceAllowedIps: p.replace_allowed_ips,
      allowedIps: p.allowed_ips,
      protocolVersion: p.protocol_version,
    })),
  }
}

/** Every field of a state or update with key objects as hex: comparable with deepEqual. */
function comparable(value) {
  if (value instanceof w.PrivateKey || value instanceof w.PresharedKey) return `secret:${value.toHex()}`
  if (Array.isArray(value)) return value.map(comparable)
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, comparable(v)]))
  }
  return value
}

test('set=1 transcripts: parse to the expected update, render back canonically', () => {
  assert.ok(transcripts.set_requests.length >= 2)
  for (const c of transcripts.set_requests) {
    const parsed = w.parseUapiSetRequest(c.text)
    assert.deepEqual(updateToVector(parsed), c.parsed, c.name)
    const canonical = c.canonical ?? c.text
    assert.equal(w.renderUapiSetRequest(parsed), canonical, `${c.name}: rendering the parsed update`)
    assert.equal(w.renderUapiSetRequest(updateFromVector(c.parsed)), canonical, `${c.name}: rendering from the vector`)
  }
})

test('get=1 transcripts: parse to the expected state, render back byte for byte', () => {
  assert.ok(transcripts.get_responses.length >= 1)
  for (const c of transcripts.get_responses) {
    const state = w.parseUapiGetResponse(c.text)
    const p = c.parsed
    assert.equal(keyHex(state.privateKey), p.private_key ?? undefined, c.name)
    assert.equal(state.ownPublicKey, p.own_public_key ? hexToBase64(p.own_public_key) : undefined, c.name)
    assert.equal(state.listenPort, p.listen_port)
    assert.equal(state.fwmark, p.fwmark)
    assert.equal(state.peers.length, p.peers.length)
    state.peers.forEach((peer, i) => {
      const want = p.peers[i]
      assert.equal(peer.publicKey, hexToBase64(want.public_key))
      assert.equal(keyHex(peer.presharedKey), want.preshared_key ?? undefined)
      assert.equal(peer.endpoint, want.endpoint)
      assert.deepEqual([peer.lastHandshakeTimeSec, peer.lastHandshakeTimeNsec], want.last_handshake ?? [0, 0])
      assert.equal(peer.txBytes, want.tx_bytes)
      assert.equal(peer.rxBytes, want.rx_bytes)
      assert.equal(peer.persistentKeepaliveInterval, want.persistent_keepalive_interval)
      assert.deepEqual(peer.allowedIps, want.allowed_ips)
      assert.equal(peer.protocolVersion, 1)
    })
    assert.equal(w.renderUapiGetResponse(state), c.canonical ?? c.text, `${c.name}: rendering back`)
  }
})

const [k1, k2, k3] = [w.PrivateKey.generate(), w.PrivateKey.generate(), w.PrivateKey.generate()]

test('render → parse round trips: updates', () => {
  const updates = [
    {},
    { listenPort: 0, fwmark: 0 },
    { privateKey: k1, listenPort: 51820, fwmark: 4294967295, replacePeers: true },
    { privateKey: null },
    {
      privateKey: k1,
      peers: [
        {
          publicKey: k2.publicKey().toBase64(),
          presharedKey: w.PresharedKey.generate(),
          endpoint: '[2001:db8::1]:51820',
          persistentKeepaliveInterval: 25,
          replaceAllowedIps: true,
          allowedIps: ['10.88.0.2/32', 'fd88::2/128', '-10.0.0.0/8'],
          protocolVersion: 1,
        },
        { publicKey: k3.publicKey().toHex(), updateOnly: true, presharedKey: null, endpoint: '192.0.2.9:1' },
        { publicKey: k1.publicKey().toBase64(), remove: true },
      ],
    },
  ]
  for (const update of updates) {
    const text = w.renderUapiSetRequest(update)
    assert.match(text, /^set=1\n(?:[a-z_]+=[^\n]*\n)*\n$/)
    const parsed = w.parseUapiSetRequest(text)
    assert.equal(w.renderUapiSetRequest(parsed), text)
    // The parsed object is the update with every default filled in and public keys as base64.
    const expected = {
      ...(update.privateKey !== undefined ? { privateKey: update.privateKey } : {}),
      ...(update.listenPort !== undefined ? { listenPort: update.listenPort } : {}),
      ...(update.fwmark !== undefined ? { fwmark: update.fwmark } : {}),
      replacePeers: update.replacePeers ?? false,
      peers: (update.peers ?? []).map((p) => ({
        publicKey: w.PublicKey.fromBase64(p.publicKey.length === 64 ? hexToBase64(p.publicKey) : p.publicKey).toBase64(),
        remove: p.remove ?? false,
        updateOnly: p.updateOnly ?? false,
        ...(p.presharedKey !== undefined ? { presharedKey: p.presharedKey } : {}),
        ...(p.endpoint !== undefined ? { endpoint: p.endpoint } : {}),
        ...(p.persistentKeepaliveInterval !== undefined ? { persistentKeepaliveInterval: p.persistentKeepaliveInterval } : {}),
        replaceAllowedIps: p.replaceAllowedIps ?? false,
        allowedIps: p.allowedIps ?? [],
        ...(p.protocolVersion !== undefined ? { protocolVersion: p.protocolVersion } : {}),
      })),
    }
    assert.deepEqual(comparable(parsed), comparable(expected), text)
  }
})

test('render → parse round trips: states', () => {
  const states = [
    {},
    { listenPort: 51820 },
    {
      privateKey: k1,
      listenPort: 1,
      fwmark: 7,
      peers: [
        {
          publicKey: k2.publicKey().toBase64(),
          presharedKey: w.PresharedKey.generate(),
          endpoint: '192.0.2.1:51820',
          lastHandshakeTimeSec: 1700000000,
          lastHandshakeTimeNsec: 999999999,
          txBytes: 2 ** 53,
          rxBytes: 0,
          persistentKeepaliveInterval: 65535,
          allowedIps: ['0.0.0.0/0', '::/0'],
          protocolVersion: 1,
        },
        { publicKey: k3.publicKey().toHex() },
      ],
    },
  ]
  for (const state of states) {
    const text = w.renderUapiGetResponse(state)
    assert.match(text, /errno=0\n\n$/)
    const parsed = w.parseUapiGetResponse(text)
    assert.equal(w.renderUapiGetResponse(parsed), text)
    const expected = {
      ...(state.privateKey ? { privateKey: state.privateKey } : {}),
      listenPort: state.listenPort ?? 0,
      fwmark: state.fwmark ?? 0,
      peers: (state.peers ?? []).map((p) => ({
        publicKey: p.publicKey.length === 64 ? hexToBase64(p.publicKey) : p.publicKey,
        ...(p.presharedKey ? { presharedKey: p.presharedKey } : {}),
        ...(p.endpoint ? { endpoint: p.endpoint } : {}),
        lastHandshakeTimeSec: p.lastHandshakeTimeSec ?? 0,
        lastHandshakeTimeNsec: p.lastHandshakeTimeNsec ?? 0,
        txBytes: p.txBytes ?? 0,
        rxBytes: p.rxBytes ?? 0,
        persistentKeepaliveInterval: p.persistentKeepaliveInterval ?? 0,
        allowedIps: p.allowedIps ?? [],
        protocolVersion: p.protocolVersion ?? 1,
      })),
    }
    assert.deepEqual(comparable(parsed), comparable(expected), text)
  }
})

test('renderUapiErrno writes the status reply', () => {
  assert.equal(w.renderUapiErrno(0), 'errno=0\n\n')
  assert.equal(w.renderUapiErrno(22), 'errno=-22\n\n')
  assert.equal(w.renderUapiErrno(-98), 'errno=-98\n\n')
  assert.throws(() => w.parseUapiSetResponse(w.renderUapiErrno(22)), { code: 'uapi_errno', errno: 22 })
})

test('values the protocol cannot carry are refused before rendering', () => {
  const pk = k2.publicKey().toBase64()
  const refused = [
    [{ listenPort: 65536 }, 'listen_port'],
    [{ listenPort: -1 }, 'listen_port'],
    [{ listenPort: 1.5 }, 'listen_port'],
    [{ fwmark: 2 ** 32 }, 'fwmark'],
    [{ peers: [{ publicKey: pk, endpoint: 'vpn.example.com:51820' }] }, 'endpoint'],
    [{ peers: [{ publicKey: pk, endpoint: '192.0.2.1' }] }, 'endpoint'],
    [{ peers: [{ publicKey: pk, allowedIps: ['10.0.0.0/33'] }] }, 'allowed_ip'],
    [{ peers: [{ publicKey: pk, allowedIps: ['10.0.0.1'] }] }, 'allowed_ip'],
    [{ peers: [{ publicKey: pk, persistentKeepaliveInterval: 70000 }] }, 'persistent_keepalive_interval'],
    [{ peers: [{ publicKey: pk, protocolVersion: 2 }] }, 'protocol_version'],
  ]
  for (const [update, key] of refused) {
    assert.throws(() => w.renderUapiSetRequest(update), (err) => {
      assert.equal(err.code, 'uapi_invalid_value', JSON.stringify(update))
      assert.equal(err.family, 'uapi')
      assert.equal(err.key, key)
      assert.equal(err.line, 0)
      assert.equal(err.errno, 22)
      return true
    })
  }
  const state = (peer) => ({ peers: [{ publicKey: pk, ...peer }] })
  assert.throws(() => w.renderUapiGetResponse(state({ lastHandshakeTimeNsec: 1e9 })), { code: 'uapi_invalid_value', key: 'last_handshake_time_nsec' })
  assert.throws(() => w.renderUapiGetResponse(state({ rxBytes: -1 })), { code: 'uapi_invalid_value', key: 'rx_bytes' })
  assert.throws(() => w.renderUapiGetResponse(state({ txBytes: NaN })), { code: 'uapi_invalid_value', key: 'tx_bytes' })
  assert.throws(() => w.renderUapiGetResponse(state({ endpoint: 'nope' })), /peers\[0\]\.endpoint/)
  assert.throws(() => w.renderUapiSetRequest({ peers: [{ publicKey: 'nope' }] }), { code: 'key_invalid_base64' })
  assert.throws(() => w.renderUapiSetRequest({ peers: [{ publicKey: 'z'.repeat(64) }] }), { code: 'key_invalid_hex' })
  // Secrets are key objects only (wrong JavaScript types are napi's argument errors).
  assert.throws(() => w.renderUapiSetRequest({ privateKey: k1.toBase64() }), (err) => !w.isWiremeshError(err))
})

const canned = transcripts.get_responses[0].text

test('UapiClient: get and set against a fake device (connectPath)', async (t) => {
  const device = await fakeDevice(t, (request) => (request === 'get=1\n\n' ? canned : w.renderUapiErrno(0)))
  const client = await w.UapiClient.connectPath(device.path)
  assert.ok(client instanceof w.UapiClient)
  assert.equal(client.path, device.path)
  assert.equal(String(client), `UapiClient(${device.path})`)
  assert.equal(require('node:util').inspect(client), `UapiClient(${device.path})`)
  assert.equal(client.closed, false)
  // The fake device is served by this very process.
  assert.equal(client.program, require('node:fs').readFileSync('/proc/self/comm', 'utf8').trim())

  const pending = client.get()
  assert.ok(pending instanceof Promise)
  const state = await pending
  assert.equal(w.renderUapiGetResponse(state), canned)
  assert.equal(state.listenPort, 51820)
  assert.ok(state.privateKey instanceof w.PrivateKey)
  assert.equal(state.peers[0].allowedIps.length, 2)

  const update = {
    privateKey: k1,
    listenPort: 51821,
    replacePeers: true,
    peers: [{ publicKey: k2.publicKey().toBase64(), endpoint: '192.0.2.7:51820', allowedIps: ['10.88.0.7/32'] }],
  }
  assert.equal(await client.set(update), undefined)
  // Several calls in flight on one client go one at a time, in order, on the same connection.
  const results = await Promise.all([client.get(), client.set({ fwmark: 1 }), client.get()])
  assert.equal(results[1], undefined)
  assert.equal(w.renderUapiGetResponse(results[2]), canned)
  assert.deepEqual(device.requests, ['get=1\n\n', w.renderUapiSetRequest(update), 'get=1\n\n', 'set=1\nfwmark=1\n\n', 'get=1\n\n'])

  client.close()
  assert.equal(client.closed, true)
  await assert.rejects(client.get(), { code: 'io_other', family: 'io' })
})

test('UapiClient: a device that refuses rejects with uapi_errno and its errno', async (t) => {
  const device = await fakeDevice(t, (request) => (request.startsWith('set=1\n') ? 'errno=-22\n\n' : 'errno=-13\n\n'))
  const client = await w.UapiClient.connectPath(device.path)
  await assert.rejects(client.set({ listenPort: 1 }), (err) => {
    assert.ok(err instanceof Error)
    assert.ok(w.isWiremeshError(err))
    assert.equal(err.code, 'uapi_errno')
    assert.equal(err.family, 'uapi')
    assert.equal(err.errno, 22)
    assert.match(err.message, /errno 22/)
    return true
  })
  await assert.rejects(client.get(), { code: 'uapi_errno', errno: 13 })
  assert.equal(client.closed, false, 'a refusal leaves the connection usable')
  await assert.rejects(client.set({ fwmark: 2 }), { code: 'uapi_errno', errno: 22 })
  assert.equal(device.requests.length, 3)
  client.close()
})

test('UapiClient: bad answers, lost connections and missing sockets', async (t) => {
  const device = await fakeDevice(t, (request, socket) => {
    if (request === 'get=1\n\n') return 'listen_port=x\nerrno=0\n\n'
    socket.end('errno=') // a truncated answer, then the device hangs up
    return undefined
  })
  const client = await w.UapiClient.connectPath(device.path)
  await assert.rejects(client.get(), { code: 'uapi_invalid_value', key: 'listen_port', line: 1 })
  assert.equal(client.closed, false, 'a complete but invalid answer leaves the connection usable')
  await assert.rejects(client.set({}), { code: 'uapi_syntax', family: 'uapi' })
  assert.equal(client.closed, true, 'a truncated answer closes the client')
  await assert.rejects(client.get(), { code: 'io_other' })

  await assert.rejects(w.UapiClient.connectPath(path.join(tempDir(t), 'none.sock')), (err) => {
    assert.equal(err.code, 'io_not_found')
    assert.equal(err.op, 'connect')
    return true
  })
  await assert.rejects(w.UapiClient.connect('bad/name'), { code: 'io_other', family: 'io' })
  await assert.rejects(w.UapiClient.connect('wiremesh-none'), (err) => err.code.startsWith('io_') && err.path === '/var/run/wireguard/wiremesh-none.sock')
  // An update that cannot be sent throws at once, before any I/O.
  const other = await fakeDevice(t, () => w.renderUapiErrno(0))
  const fresh = await w.UapiClient.connectPath(other.path)
  assert.throws(() => fresh.set({ listenPort: 70000 }), { code: 'uapi_invalid_value' })
  assert.deepEqual(other.requests, [])
  fresh.close()
})

test('examples/node/uapi.js pushes a planned node to a device and reads it back', async (t) => {
  const { execFile } = require('node:child_process')
  let state = null
  const device = await fakeDevice(t, (request) => {
    if (request === 'get=1\n\n') return state ? w.renderUapiGetResponse(state) : 'errno=0\n\n'
    const update = w.parseUapiSetRequest(request)
    state = {
      privateKey: update.privateKey,
      listenPort: update.listenPort,
      peers: update.peers.map((p) => ({ publicKey: p.publicKey, endpoint: p.endpoint, allowedIps: p.allowedIps, persistentKeepaliveInterval: p.persistentKeepaliveInterval })),
    }
    return w.renderUapiErrno(0)
  })
  const script = path.resolve(__dirname, '..', '..', 'examples', 'node', 'uapi.js')
  const stdout = await new Promise((resolve, reject) =>
    execFile(process.execPath, [script, '--socket', device.path, 'hub'], { encoding: 'utf8' }, (err, out, errOut) =>
      err ? reject(new Error(`${err.message}\n${errOut}`)) : resolve(out),
    ),
  )
  assert.equal(device.requests.length, 2)
  const sent = w.parseUapiSetRequest(device.requests[0])
  assert.equal(sent.replacePeers, true)
  assert.equal(sent.listenPort, 51820)
  assert.deepEqual(sent.peers.map((p) => p.allowedIps), [['10.88.0.11/32'], ['10.88.0.12/32'], ['10.88.0.13/32']])
  assert.match(stdout, /hub: 3 peer\(s\), listening on 51820/)
  assert.ok(!stdout.includes(sent.privateKey.toBase64()) && !stdout.includes(sent.privateKey.toHex()), 'the example never prints the key')
})
