#!/usr/bin/env node
// Benchmark: plan a 1000-node full mesh and render every node's wg-quick text from Node, against the
// same work through the Rust API (examples/bench_plan_render_node.rs), measured in one run; then the
// same with the configs written to a directory (writeConfigs / write_configs). Prints both sides and
// the Node/Rust ratios (target: at most 1.25).
//
// Run: node bench-plan-render.js [NODES] [ITERATIONS]   (builds the Rust example with cargo first; set
// WIREMESH_BENCH_RUST_BIN to a prebuilt binary to skip that). Exits 1 when the plan+render ratio is
// above WIREMESH_BENCH_MAX_RATIO (default 1.25); the write comparison is informational.
'use strict'

const { execFileSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { performance } = require('node:perf_hooks')
const { Mesh, plan, writeConfigs } = require('.')

const nodes = Number(process.argv[2] ?? 1000)
const iterations = Number(process.argv[3] ?? 10)
const maxRatio = Number(process.env.WIREMESH_BENCH_MAX_RATIO ?? 1.25)
const root = path.resolve(__dirname, '..')

// The same mesh as benches/common/mod.rs `full_mesh`: documentation-range endpoints, every node public.
function endpoint(i) {
  const net = ['192.0.2', '198.51.100', '203.0.113'][i % 3]
  return `${net}.${1 + (Math.floor(i / 3) % 250)}:${51820 + Math.floor(i / 750)}`
}

function fullMesh(n) {
  const mesh = Mesh.fromObject({
    mesh: { name: 'bench', networks: ['10.88.0.0/16'] },
    nodes: Array.from({ length: n }, (_, i) => ({ name: `node-${String(i).padStart(4, '0')}`, endpoint: endpoint(i) })),
  })
  mesh.generateMissing()
  return mesh
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

function runRust(count, mode) {
  const args = [String(nodes), String(count), mode]
  const bin = process.env.WIREMESH_BENCH_RUST_BIN
  const out = bin
    ? execFileSync(bin, args, { encoding: 'utf8' })
    : execFileSync('cargo', ['run', '--quiet', '--release', '--example', 'bench_plan_render_node', '--', ...args], {
        cwd: root,
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'inherit'],
      })
  return JSON.parse(out.trim().split('\n').pop())
}

// Between iterations the loop drops the previous results and returns to the event loop (outside the
// timed part), as any Node program does between requests: Node runs native finalizers there, so the
// previous plan is freed before the next one is built, as the Rust side drops it.
const tick = () => new Promise((resolve) => setImmediate(resolve))

async function runNode(mesh, count, mode, dir) {
  const planMs = []
  const totalMs = []
  let bytes = 0
  let p = null
  let texts = null
  for (let i = 0; i < count; i++) {
    p = null
    texts = null
    await tick()
    const start = performance.now()
    p = plan(mesh)
    const planned = performance.now()
    if (mode === 'render') {
      texts = p.renderAll('wg-quick')
    } else {
      await writeConfigs(p, dir, 'wg-quick')
    }
    const done = performance.now()
    bytes = texts ? texts.reduce((sum, r) => sum + r.text.length, 0) : 0
    planMs.push(planned - start)
    totalMs.push(done - start)
  }
  return { bytes, plan_ms: planMs, total_ms: totalMs }
}

async function compare(mesh, mode, dir) {
  await runNode(mesh, 1, mode, dir) // warm-up (JIT, allocator)
  // Alternate the two sides so drift on a shared machine hits both alike.
  const rust = { plan_ms: [], total_ms: [] }
  const node = { plan_ms: [], total_ms: [] }
  const rounds = Math.min(iterations, 4)
  for (let round = 0; round < rounds; round++) {
    const count = Math.ceil(iterations / rounds)
    const r = runRust(count, mode)
    rust.plan_ms.push(...r.plan_ms)
    rust.total_ms.push(...r.total_ms)
    rust.bytes = r.bytes
    const n = await runNode(mesh, count, mode, dir)
    node.plan_ms.push(...n.plan_ms)
    node.total_ms.push(...n.total_ms)
    node.bytes = n.bytes
  }
  const ratio = median(node.total_ms) / median(rust.total_ms)
  const fmt = (v) => v.toFixed(1)
  const what = mode === 'render' ? 'plan + render (wg-quick text)' : 'plan + write (wg-quick files)'
  console.log(`${what} of a ${nodes}-node full mesh, ${rust.total_ms.length} iterations each, medians:`)
  const size = (b) => (b ? ` (${(b / 1e6).toFixed(1)} MB of config text)` : '')
  console.log(`  rust: plan ${fmt(median(rust.plan_ms))} ms, total ${fmt(median(rust.total_ms))} ms${size(rust.bytes)}`)
  console.log(`  node: plan ${fmt(median(node.plan_ms))} ms, total ${fmt(median(node.total_ms))} ms${size(node.bytes)}`)
  console.log(`  node/rust ratio: ${ratio.toFixed(3)} (target <= ${maxRatio})`)
  return ratio
}

async function main() {
  const mesh = fullMesh(nodes)
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wiremesh-bench-'))
  try {
    const render = await compare(mesh, 'render', dir)
    const write = await compare(mesh, 'write', dir)
    // The contract is plan + render; the write comparison is printed for information.
    if (!(render <= maxRatio)) process.exitCode = 1
    if (!(write <= maxRatio)) console.log('  (plan + write is above the target on this run)')
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

main()
