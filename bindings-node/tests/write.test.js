'use strict'
const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const { Mesh, plan, writeConfigs, writeProvenConfigs } = require('..')
const { VECTORS, tempDir } = require('./helpers')

function seed() {
  const mesh = new Mesh({ name: 'seed', networks: ['10.88.0.0/24'] })
  mesh.addNode({ name: 'hub', endpoint: '167.172.142.145:51820', relay: true })
  for (const name of ['node-1', 'node-2', 'node-3']) mesh.addNode({ name })
  mesh.generateMissing()
  return mesh
}

test('writeConfigs writes <node>.conf files 0600 in a 0700 directory, as the CLI does', async (t) => {
  const dir = path.join(tempDir(t), 'out')
  const p = plan(seed())
  const written = await writeConfigs(p, dir)
  assert.deepEqual(written, ['hub', 'node-1', 'node-2', 'node-3'].map((n) => path.join(dir, `${n}.conf`)))
  assert.equal(fs.statSync(dir).mode & 0o777, 0o700)
  for (const file of written) {
    assert.equal(fs.statSync(file).mode & 0o777, 0o600, file)
    assert.equal(fs.readFileSync(file, 'utf8'), p.render(path.basename(file, '.conf')))
  }
  assert.deepEqual(fs.readdirSync(dir).sort(), ['hub.conf', 'node-1.conf', 'node-2.conf', 'node-3.conf'])
  // setconf, into an existing directory that is tightened to 0700.
  const loose = path.join(tempDir(t), 'loose')
  fs.mkdirSync(loose, { mode: 0o755 })
  await writeConfigs(p, loose, 'setconf')
  assert.equal(fs.statSync(loose).mode & 0o777, 0o700)
  assert.equal(fs.readFileSync(path.join(loose, 'hub.conf'), 'utf8'), p.render('hub', 'setconf'))
})

test('writeConfigs writes nothing when a node cannot be rendered', async (t) => {
  // The vector meshes hold only public keys: no node's config can be rendered.
  const mesh = await Mesh.load(path.join(VECTORS, 'meshes', 'seed-full-mesh.toml'))
  const p = plan(mesh)
  const dir = tempDir(t)
  fs.writeFileSync(path.join(dir, 'hub.conf'), 'old\n')
  await assert.rejects(writeConfigs(p, dir), (err) => {
    assert.equal(err.code, 'mesh_missing_key')
    assert.equal(err.family, 'mesh')
    assert.equal(err.node, 'hub')
    return true
  })
  assert.deepEqual(fs.readdirSync(dir), ['hub.conf'], 'no file added, no temporary left')
  assert.equal(fs.readFileSync(path.join(dir, 'hub.conf'), 'utf8'), 'old\n', 'existing file untouched')
  // A bad format is refused before anything is written.
  const fresh = path.join(tempDir(t), 'fresh')
  await assert.rejects(writeConfigs(plan(seed()), fresh, 'yaml'), { code: 'mesh_invalid_value' })
  assert.ok(!fs.existsSync(fresh))
  // A path that cannot be a directory: an io error.
  await assert.rejects(writeConfigs(plan(seed()), path.join(dir, 'hub.conf', 'x')), (err) => err.family === 'io')
})

test('writeProvenConfigs proves the plan while writing: the same files as writeConfigs', async (t) => {
  const p = plan(seed())
  const proven = await writeProvenConfigs(p, path.join(tempDir(t), 'proven'))
  const plain = await writeConfigs(p, path.join(tempDir(t), 'plain'))
  assert.deepEqual(proven.map((f) => path.basename(f)), plain.map((f) => path.basename(f)))
  for (const [a, b] of proven.map((f, i) => [f, plain[i]])) {
    assert.equal(fs.readFileSync(a, 'utf8'), fs.readFileSync(b, 'utf8'))
    assert.equal(fs.statSync(a).mode & 0o777, 0o600)
  }
})

test('writeProvenConfigs writes nothing when a node cannot be rendered', async (t) => {
  const mesh = await Mesh.load(path.join(VECTORS, 'meshes', 'seed-full-mesh.toml'))
  const dir = tempDir(t)
  fs.writeFileSync(path.join(dir, 'hub.conf'), 'old\n')
  await assert.rejects(writeProvenConfigs(plan(mesh), dir), { code: 'mesh_missing_key' })
  assert.deepEqual(fs.readdirSync(dir), ['hub.conf'])
  assert.equal(fs.readFileSync(path.join(dir, 'hub.conf'), 'utf8'), 'old\n')
})
