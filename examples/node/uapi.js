#!/usr/bin/env node
// One node of the seed deployment pushed to a running userspace WireGuard device (wiremeshd,
// wireguard-go, boringtun) over its UAPI socket, the way `wg syncconf` would, then read back.
//
// Run: node examples/node/uapi.js [--interface IFNAME | --socket PATH] [NODE]   (NODE: default hub)
// Without --interface/--socket it only prints the set=1 request it would send (private key hidden).
// Needs the built package: `cd bindings-node && npm install && npm run build`.
'use strict'

let wiremesh
try {
  wiremesh = require('wiremesh')
} catch {
  wiremesh = require('../../bindings-node')
}
const { Mesh, UapiClient, plan, verify, renderUapiSetRequest } = wiremesh

/** The set=1 update that makes a device match a planned node's config (a WgConfig object). */
function updateFor(config) {
  return {
    ...(config.interface.privateKey ? { privateKey: config.interface.privateKey } : {}),
    listenPort: config.interface.listenPort ?? 0,
    fwmark: config.interface.fwmark ?? 0,
    replacePeers: true,
    peers: config.peers.map((peer) => ({
      publicKey: peer.publicKey,
      presharedKey: peer.presharedKey ?? null,
      // The UAPI takes IP:PORT only: a DNS endpoint would have to be resolved first.
      ...(peer.endpoint ? { endpoint: peer.endpoint } : {}),
      persistentKeepaliveInterval: peer.persistentKeepalive ?? 0,
      replaceAllowedIps: true,
      allowedIps: peer.allowedIps ?? [],
    })),
  }
}

async function main() {
  const args = process.argv.slice(2)
  let target = null
  const rest = []
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--interface' || args[i] === '--socket') target = { [args[i].slice(2)]: args[++i] }
    else rest.push(args[i])
  }
  const name = rest[0] ?? 'hub'

  const mesh = new Mesh({ name: 'seed', networks: ['10.88.0.0/24'], topology: 'full-mesh' })
  // A documentation address (RFC 5737): this script configures a live device, which would dial it.
  // Put your hub's real address here.
  mesh.addNode({ name: 'hub', endpoint: '192.0.2.1:51820', relay: true, addresses: ['10.88.0.1'] })
  for (const [node, address] of [['node-1', '10.88.0.11'], ['node-2', '10.88.0.12'], ['node-3', '10.88.0.13']]) {
    mesh.addNode({ name: node, addresses: [address] })
  }
  mesh.generateMissing()
  const p = plan(mesh)
  verify(p)
  const update = updateFor(p.config(name))

  if (!target) {
    const text = renderUapiSetRequest(update).replace(/^private_key=.*$/m, 'private_key=<redacted>')
    process.stdout.write(`set=1 request for ${name} (pass --interface IFNAME or --socket PATH to send it):\n${text}`)
    return
  }
  const client = target.socket ? await UapiClient.connectPath(target.socket) : await UapiClient.connect(target.interface)
  try {
    await client.set(update)
    const state = await client.get()
    console.log(`${name}: ${state.peers.length} peer(s), listening on ${state.listenPort}`)
    for (const peer of state.peers) {
      const handshake = peer.lastHandshakeTimeSec ? new Date(peer.lastHandshakeTimeSec * 1000).toISOString() : 'never'
      console.log(`  ${peer.publicKey}  ${peer.allowedIps.join(', ')}  handshake: ${handshake}`)
    }
  } finally {
    client.close()
  }
}

main().catch((err) => {
  console.error(`error [${err.code ?? 'unknown'}]: ${err.message}`)
  process.exit(1)
})
