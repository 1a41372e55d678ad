#!/usr/bin/env node
// A WireGuard node embedded in this Node.js process (Linux, root): loads a mesh file, plans it, and
// starts the userspace device for one node with `Device.startNode`; then waits until every peer has
// handshaken, turns on a persistent keepalive with `device.apply` (visible in `wg show`: the device
// serves its UAPI socket), and stops when CONTROL_DIR/stop appears. The packet path runs in native
// threads, never on the event loop.
//
// The interface gets no address here: like wg-quick after the daemon starts, whoever runs this adds the
// node's addresses with `ip` (tests/netns/device.sh `inproc` does).
//
// Run: node examples/node/device_node.js MESH NODE IFNAME CONTROL_DIR   (inside a network namespace)
// The package comes from `require('wiremesh')`, or WIREMESH_NODE_PACKAGE (a directory), or
// ../../bindings-node. Every wait is bounded; it prints one line per step and exits non-zero on failure.
'use strict'

const dgram = require('node:dgram')
const fs = require('node:fs')
const path = require('node:path')
const util = require('node:util')

function loadWiremesh() {
  if (process.env.WIREMESH_NODE_PACKAGE) return require(path.resolve(process.env.WIREMESH_NODE_PACKAGE))
  try {
    return require('wiremesh')
  } catch {
    return require('../../bindings-node')
  }
}
const { Device, Mesh, plan } = loadWiremesh()

const KEEPALIVE = 23 // seconds: the test looks for it in `wg show`
const WAIT_MS = 60_000 // for each wait
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

async function run(meshPath, node, ifname, control) {
  const p = plan(await Mesh.load(meshPath))
  const device = await Device.startNode(p, node, { ifname, socketBufferBytes: 4 << 20, tunQueueLen: 2000 })
  let counters, port
  try {
    const offloads = device.offloads()
    for (const key of ['vnetHdr', 'tso', 'uso', 'udpGso', 'udpGro']) {
      if (typeof offloads[key] !== 'boolean') throw new Error(`offloads().${key} is not a boolean: ${util.inspect(offloads)}`)
    }
    console.log(`started ${device.ifname} for ${node}: ${util.inspect(device)}, offloads ${JSON.stringify(offloads)}`)
    const peers = device.state().peers.length
    let deadline = Date.now() + WAIT_MS
    for (;;) {
      const done = device.state().peers.filter((peer) => peer.lastHandshakeTimeSec > 0).length
      if (done === peers) {
        console.log(`handshakes ${done}/${peers}`)
        break
      }
      if (Date.now() >= deadline) throw new Error(`only ${done} of ${peers} peers handshook within ${WAIT_MS / 1000} s`)
      await sleep(200)
    }

    await device.apply({
      peers: device.state().peers.map((peer) => ({
        publicKey: peer.publicKey,
        updateOnly: true,
        persistentKeepaliveInterval: KEEPALIVE,
      })),
    })
    if (device.state().peers.some((peer) => peer.persistentKeepaliveInterval !== KEEPALIVE)) {
      throw new Error("the keepalive change is not in the device's state")
    }
    console.log(`applied keepalive ${KEEPALIVE}`)

    const stopFile = path.join(control, 'stop')
    deadline = Date.now() + WAIT_MS
    while (!fs.existsSync(stopFile)) {
      if (device.isStopped) throw new Error(`the device stopped by itself: ${device.stopReason}`)
      if (Date.now() >= deadline) throw new Error(`${stopFile} did not appear within ${WAIT_MS / 1000} s`)
      await sleep(100)
    }
  } finally {
    counters = device.counters()
    port = device.state().listenPort
    await device.stop()
  }
  if (!device.isStopped || device.stopReason !== 'requested') {
    throw new Error(`after stop(): isStopped ${device.isStopped}, reason ${device.stopReason}`)
  }
  // Nothing left behind while this process still runs: interface, UAPI socket, UDP port.
  if (fs.existsSync(`/sys/class/net/${ifname}`)) throw new Error(`interface ${ifname} still exists after stop()`)
  if (fs.existsSync(`/var/run/wireguard/${ifname}.sock`)) throw new Error(`the UAPI socket of ${ifname} still exists`)
  await new Promise((resolve, reject) => {
    const probe = dgram.createSocket('udp4')
    probe.once('error', (err) => reject(new Error(`UDP port ${port} still taken after stop(): ${err.message}`)))
    probe.bind(port, '0.0.0.0', () => probe.close(resolve))
  })
  console.log(`stopped ${util.inspect(device)} (ingress drops ${counters.ingressDropped}, cookies sent ${counters.cookiesSent})`)
}

const args = process.argv.slice(2)
if (args.length !== 4) {
  console.error('usage: device_node.js MESH NODE IFNAME CONTROL_DIR')
  process.exit(2)
}
run(...args).then(
  () => process.exit(0),
  (err) => {
    console.error(`device_node.js: ${err.code ? `[${err.code}] ` : ''}${err.message}`)
    process.exit(1)
  },
)
