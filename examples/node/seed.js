#!/usr/bin/env node
// The seed deployment rebuilt with wiremesh from Node: a public hub (a relay) and three nodes behind
// NAT, planned as a full mesh (the nodes reach each other through the hub), proven reachable, shown,
// and written as wg-quick files (0600, in a 0700 directory).
//
// Run: node examples/node/seed.js [OUT_DIR]   (default: a new temporary directory)
// Needs the built package: `cd bindings-node && npm install && npm run build`.
'use strict'

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

let wiremesh
try {
  wiremesh = require('wiremesh')
} catch {
  wiremesh = require('../../bindings-node')
}
const { Mesh, PrivateKey, plan, verify, writeConfigs } = wiremesh

async function main() {
  const out = process.argv[2] ?? fs.mkdtempSync(path.join(os.tmpdir(), 'wiremesh-seed-'))

  const mesh = new Mesh({ name: 'seed', networks: ['10.88.0.0/24'], topology: 'full-mesh' })
  mesh.addNode({ name: 'hub', endpoint: '167.172.142.145:51820', relay: true, addresses: ['10.88.0.1'] })
  mesh.addNode({ name: 'node-1', addresses: ['10.88.0.11'] })
  mesh.addNode({ name: 'node-2', addresses: ['10.88.0.12'] })
  // node-3 is self-contained: it generates its key on the machine and only publishes the public key;
  // its config loads the private key from there. (Here we make one up to stand for that.)
  mesh.addNode({
    name: 'node-3',
    publicKey: PrivateKey.generate().publicKey().toBase64(),
    privateKeyOnNode: '/etc/wireguard/wiremesh.key',
  })
  const generated = mesh.generateMissing() // keys for the others, node-3's address (lowest free)
  console.log(`generated keys for ${generated.keys.join(', ')}; addresses: ${generated.addresses.map((a) => `${a.node}=${a.address}`).join(', ')}`)

  const p = plan(mesh)
  const proof = verify(p)
  console.log(`== ${p.topology}: ${proof.pairsProven} ordered pairs proven (${proof.relayedPairs} through the hub)`)
  for (const node of p.toObject().nodes) {
    const routes = node.routes.map((r) => (r.reach === 'relay' ? `${r.node} via ${r.via}` : `${r.node} ${r.reach}`))
    console.log(`  ${node.name.padEnd(7)} ${node.peers.length} peer(s): ${routes.join(', ')}`)
    for (const peer of node.peers) {
      console.log(`           [Peer] ${peer.name.padEnd(7)} AllowedIPs = ${peer.allowedIps.join(', ')}`)
    }
  }
  const written = await writeConfigs(p, out)
  console.log(`  wrote ${written.length} files to ${out}`)
}

main().catch((err) => {
  console.error(`error [${err.code ?? 'unknown'}]: ${err.message}`)
  process.exit(1)
})
