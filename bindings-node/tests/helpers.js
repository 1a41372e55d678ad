'use strict'
// Shared helpers of the node:test suite: where the shared vectors are, how their snake_case wire
// format maps onto the JavaScript objects, and a fake UAPI device on a unix socket.

const fs = require('node:fs')
const net = require('node:net')
const os = require('node:os')
const path = require('node:path')
const wiremesh = require('..')

const VECTORS = path.resolve(__dirname, '..', '..', 'tests', 'vectors')

function readJson(file) {
  return JSON.parse(fs.readFileSync(file, 'utf8'))
}

function camel(key) {
  return key.replace(/_([a-z])/g, (_, c) => c.toUpperCase())
}

/** The vectors' snake_case keys in camelCase, recursively (values untouched). */
function camelize(value) {
  if (Array.isArray(value)) return value.map(camelize)
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [camel(k), camelize(v)]))
  }
  return value
}

/** A copy without the keys whose value is null or undefined (absent and null compare equal). */
function dropNulls(value) {
  if (Array.isArray(value)) return value.map(dropNulls)
  if (value && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    return Object.fromEntries(
      Object.entries(value)
        .filter(([, v]) => v !== null && v !== undefined)
        .map(([k, v]) => [k, dropNulls(v)]),
    )
  }
  return value
}

/** A parsed WgConfig in the configs/ vectors' JSON shape (every field present, keys as base64). */
function configToVector(config) {
  const i = config.interface
  return {
    interface: {
      private_key: i.privateKey ? i.privateKey.toBase64() : null,
      listen_port: i.listenPort ?? null,
      fwmark: i.fwmark ?? null,
      addresses: i.addresses ?? [],
      dns: i.dns ?? [],
      mtu: i.mtu ?? null,
      table: i.table ?? null,
      pre_up: i.preUp ?? [],
      post_up: i.postUp ?? [],
      pre_down: i.preDown ?? [],
      post_down: i.postDown ?? [],
      save_config: i.saveConfig ?? null,
    },
    peers: config.peers.map((p) => ({
      name: p.name ?? null,
      public_key: p.publicKey,
      preshared_key: p.presharedKey ? p.presharedKey.toBase64() : null,
      allowed_ips: p.allowedIps ?? [],
      endpoint: p.endpoint ?? null,
      persistent_keepalive: p.persistentKeepalive ?? null,
    })),
  }
}

/** A WgConfig object from the vectors' JSON shape (fields may be missing). */
function configFromVector(vector) {
  // Optional fields are left out (undefined), never null: the vectors' nulls are dropped.
  const i = dropNulls(vector.interface ?? {})
  const c = camelize(i)
  return {
    interface: {
      ...c,
      privateKey: i.private_key ? wiremesh.PrivateKey.fromBase64(i.private_key) : undefined,
    },
    peers: (vector.peers ?? []).map(dropNulls).map((p) => ({
      ...camelize(p),
      presharedKey: p.preshared_key ? wiremesh.PresharedKey.fromBase64(p.preshared_key) : undefined,
    })),
  }
}

/** A fresh temporary directory, removed when the test ends. */
function tempDir(t, prefix = 'wiremesh-test-') {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix))
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** The .conf files of a directory with their .json siblings, sorted. */
function confVectors(dir) {
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.conf'))
    .sort()
    .map((f) => ({ name: f, conf: path.join(dir, f), json: path.join(dir, f.replace(/\.conf$/, '.json')) }))
}

/**
 * A fake UAPI device on a unix socket in a fresh temp dir, served by this process and closed when the
 * test ends: `answer(request, socket)` gives the reply to each request (every message up to its blank
 * line; several per connection); `undefined` sends nothing. Resolves to { path, requests }, `requests`
 * holding every request received.
 */
async function fakeDevice(t, answer) {
  const file = path.join(tempDir(t, 'wiremesh-uapi-'), 'wg-test.sock')
  const requests = []
  const sockets = new Set()
  const server = net.createServer((socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
    let buffer = ''
    socket.setEncoding('utf8')
    socket.on('data', (chunk) => {
      buffer += chunk
      let end
      while ((end = buffer.indexOf('\n\n')) !== -1) {
        const request = buffer.slice(0, end + 2)
        buffer = buffer.slice(end + 2)
        requests.push(request)
        const reply = answer(request, socket)
        if (reply !== undefined) socket.write(reply)
      }
    })
  })
  await new Promise((resolve, reject) => server.listen(file, resolve).once('error', reject))
  t.after(
    () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy()
        server.close(resolve)
      }),
  )
  return { path: file, requests }
}

module.exports = {
  VECTORS,
  readJson,
  camelize,
  dropNulls,
  configToVector,
  configFromVector,
  tempDir,
  confVectors,
  fakeDevice,
}
