'use strict'
const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const { Mesh, Plan, PrivateKey, plan, verify, writeConfigs, writeProvenConfigs, writeMeshConfigs, writeMeshConfigsLean } = require('..')
const { VECTORS, readJson, tempDir } = require('./helpers')

/** The seed deployment (its hub's public address is only rendered, never dialled). */
function seed({ presharedKeys = false } = {}) {
  const mesh = new Mesh({ name: 'seed', networks: ['10.88.0.0/24'], presharedKeys })
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

/** The vector meshes (they hold only public keys: no node's config can be rendered). */
function meshVectors() {
  const files = fs.readdirSync(path.join(VECTORS, 'meshes')).filter((f) => f.endsWith('.toml')).sort()
  assert.ok(files.length >= 4)
  return files.map((f) => ({ name: f, mesh: Mesh.fromToml(fs.readFileSync(path.join(VECTORS, 'meshes', f), 'utf8')) }))
}

/** The mesh with its declared public keys dropped and fresh key pairs generated. */
function withPrivateKeys(mesh) {
  const object = mesh.toObject()
  for (const node of object.nodes) delete node.publicKey
  const keyed = Mesh.fromObject(object)
  keyed.generateMissing()
  assert.ok(keyed.nodes.every((node) => node.privateKey))
  return keyed
}

function fileTexts(dir) {
  return Object.fromEntries(fs.readdirSync(dir).sort().map((f) => [f, fs.readFileSync(path.join(dir, f), 'utf8')]))
}

test('writeMeshConfigs writes what writeProvenConfigs(plan(mesh)) writes and resolves to { plan, paths }', async (t) => {
  const meshes = [{ name: 'seed-psk', mesh: seed({ presharedKeys: true }) }, ...meshVectors().map(({ name, mesh }) => ({ name, mesh: withPrivateKeys(mesh) }))]
  for (const { name, mesh } of meshes) {
    const expectedPlan = plan(mesh)
    for (const format of ['wg-quick', 'setconf']) {
      const dir = path.join(tempDir(t), 'out')
      const expectedDir = path.join(tempDir(t), 'expected')
      const result = await writeMeshConfigs(mesh, dir, format)
      const expected = await writeProvenConfigs(expectedPlan, expectedDir, format)
      assert.deepEqual(Object.keys(result).sort(), ['paths', 'plan'])
      assert.ok(result.plan instanceof Plan, name)
      assert.deepEqual(result.paths, mesh.nodes.map((n) => path.join(dir, `${n.name}.conf`)), name)
      assert.deepEqual(result.paths.map((f) => path.basename(f)), expected.map((f) => path.basename(f)))
      assert.equal(result.plan.toJson(), expectedPlan.toJson(), name)
      assert.deepEqual(result.plan.renderAll(format), expectedPlan.renderAll(format), name)
      assert.deepEqual(fileTexts(dir), fileTexts(expectedDir), `${name} ${format}`)
      assert.deepEqual(fileTexts(dir), Object.fromEntries(result.plan.renderAll(format).map((c) => [`${c.name}.conf`, c.text])))
      assert.equal(fs.statSync(dir).mode & 0o777, 0o700)
      for (const file of result.paths) assert.equal(fs.statSync(file).mode & 0o777, 0o600, file)
    }
  }
})

test('writeMeshConfigs: the plan works like plan(mesh); an existing directory is tightened, other files kept', async (t) => {
  const mesh = seed({ presharedKeys: true })
  const { plan: p, paths } = await writeMeshConfigs(mesh, path.join(tempDir(t), 'out'))
  assert.equal(verify(p).pairsProven, 12)
  assert.deepEqual(p.nodeNames, ['hub', 'node-1', 'node-2', 'node-3'])
  assert.equal(fs.readFileSync(paths[0], 'utf8'), p.render('hub'))
  await assertRewritesALooseDirectory(t, writeMeshConfigs, mesh, p)
})

// Rewriting an existing 0755 directory replaces its configs, tightens it to 0700 and keeps other files.
async function assertRewritesALooseDirectory(t, write, mesh, p) {
  const loose = path.join(tempDir(t), 'loose')
  fs.mkdirSync(loose, { mode: 0o755 })
  fs.chmodSync(loose, 0o755)
  fs.writeFileSync(path.join(loose, 'hub.conf'), 'old\n')
  fs.writeFileSync(path.join(loose, 'notes.txt'), 'kept\n')
  await write(mesh, loose, 'setconf')
  assert.equal(fs.statSync(loose).mode & 0o777, 0o700)
  assert.equal(fs.readFileSync(path.join(loose, 'hub.conf'), 'utf8'), p.render('hub', 'setconf'))
  assert.equal(fs.readFileSync(path.join(loose, 'notes.txt'), 'utf8'), 'kept\n')
  assert.deepEqual(fs.readdirSync(loose).sort(), ['hub.conf', 'node-1.conf', 'node-2.conf', 'node-3.conf', 'notes.txt'])
}

test('writeMeshConfigs reads the mesh as it is at the call', async (t) => {
  const mesh = seed({ presharedKeys: true })
  const expected = plan(mesh)
  const pending = writeMeshConfigs(mesh, path.join(tempDir(t), 'out'))
  mesh.removeNode('node-3')
  const { plan: p, paths } = await pending
  assert.equal(paths.length, 4)
  assert.deepEqual(p.renderAll(), expected.renderAll())
})

test('writeMeshConfigs and writeMeshConfigsLean write nothing when a node cannot be rendered', async (t) => {
  const mesh = seed({ presharedKeys: true })
  // node-4 has only a public key: its private key is unknown, so its config cannot be rendered.
  mesh.addNode({ name: 'node-4', publicKey: PrivateKey.generate().publicKey().toBase64() })
  mesh.generateMissing()
  for (const { name, mesh: unrenderable } of [{ name: 'seed + node-4', mesh }, ...meshVectors()]) {
    const dir = tempDir(t)
    fs.writeFileSync(path.join(dir, 'hub.conf'), 'old\n')
    await assert.rejects(writeMeshConfigs(unrenderable, dir), (err) => {
      assert.equal(err.code, 'mesh_missing_key', name)
      assert.equal(err.family, 'mesh')
      return true
    })
    await assert.rejects(writeMeshConfigsLean(unrenderable, dir), (err) => {
      assert.equal(err.code, 'mesh_missing_key', name)
      assert.equal(err.family, 'mesh')
      return true
    })
    await assert.rejects(writeProvenConfigs(plan(unrenderable), dir), { code: 'mesh_missing_key' })
    assert.deepEqual(fs.readdirSync(dir), ['hub.conf'], `${name}: no file added, no temporary left`)
    assert.equal(fs.readFileSync(path.join(dir, 'hub.conf'), 'utf8'), 'old\n', `${name}: existing file untouched`)
  }
})

test('writeMeshConfigs rejects with what plan and verify throw (the plan_toml and verify_toml error vectors)', async (t) => {
  const cases = readJson(path.join(VECTORS, 'errors.json')).cases.filter((c) => ['plan_toml', 'verify_toml'].includes(c.operation))
  assert.deepEqual([...new Set(cases.map((c) => c.operation))].sort(), ['plan_toml', 'verify_toml'])
  for (const c of cases) {
    const mesh = Mesh.fromToml(c.input)
    const dir = tempDir(t)
    fs.writeFileSync(path.join(dir, 'keep.conf'), 'old\n')
    let separately
    try {
      await writeProvenConfigs(plan(mesh), dir)
    } catch (err) {
      separately = err
    }
    assert.ok(separately, c.name)
    await assert.rejects(writeMeshConfigs(mesh, dir), (err) => {
      assert.equal(err.code, c.code, c.name)
      assert.equal(err.code, separately.code)
      assert.equal(err.family, separately.family)
      assert.deepEqual(err.pairs, separately.pairs)
      assert.deepEqual(err.problems, separately.problems)
      if (err.code === 'verify_failed') assert.ok(err.problems.length > 0)
      if (err.code === 'plan_unroutable_pair') assert.ok(err.pairs.length > 0)
      return true
    })
    assert.deepEqual(fs.readdirSync(dir), ['keep.conf'], c.name)
  }
})

test('writeMeshConfigs refuses a bad format as writeConfigs does, and reports io errors', async (t) => {
  const mesh = seed({ presharedKeys: true })
  const base = tempDir(t)
  let expected
  await assert.rejects(writeConfigs(plan(mesh), path.join(base, 'plain'), 'yaml'), (err) => {
    expected = err
    return true
  })
  await assert.rejects(writeMeshConfigs(mesh, path.join(base, 'configs'), 'yaml'), (err) => {
    assert.equal(err.code, 'mesh_invalid_value')
    assert.equal(err.code, expected.code)
    assert.equal(err.message, expected.message)
    assert.equal(err.field, expected.field)
    return true
  })
  assert.ok(!fs.existsSync(path.join(base, 'configs')) && !fs.existsSync(path.join(base, 'plain')))
  fs.writeFileSync(path.join(base, 'file'), 'x')
  await assert.rejects(writeMeshConfigs(mesh, path.join(base, 'file', 'configs')), (err) => err.family === 'io' && err.code.startsWith('io_'))
})

test('writeMeshConfigsLean writes what writeMeshConfigs writes and resolves to { proof, paths } with verify(plan(mesh))', async (t) => {
  const meshes = [{ name: 'seed-psk', mesh: seed({ presharedKeys: true }) }, ...meshVectors().map(({ name, mesh }) => ({ name, mesh: withPrivateKeys(mesh) }))]
  let blocked = 0
  let relayed = 0
  for (const { name, mesh } of meshes) {
    const expectedProof = verify(plan(mesh))
    blocked += expectedProof.pairsBlocked
    relayed += expectedProof.relayedPairs
    for (const format of ['wg-quick', 'setconf']) {
      const dir = path.join(tempDir(t), 'out')
      const fullDir = path.join(tempDir(t), 'full')
      const provenDir = path.join(tempDir(t), 'proven')
      const result = await writeMeshConfigsLean(mesh, dir, format)
      await writeMeshConfigs(mesh, fullDir, format)
      await writeProvenConfigs(plan(mesh), provenDir, format)
      assert.deepEqual(Object.keys(result).sort(), ['paths', 'proof'])
      assert.deepEqual(result.proof, expectedProof, `${name} ${format}`)
      assert.ok(result.proof.pairsProven > 0, name)
      assert.deepEqual(result.paths, mesh.nodes.map((n) => path.join(dir, `${n.name}.conf`)), name)
      assert.deepEqual(fileTexts(dir), fileTexts(fullDir), `${name} ${format}`)
      assert.deepEqual(fileTexts(dir), fileTexts(provenDir), `${name} ${format}`)
      assert.equal(fs.statSync(dir).mode & 0o777, 0o700)
      for (const file of result.paths) assert.equal(fs.statSync(file).mode & 0o777, 0o600, file)
    }
  }
  assert.ok(blocked > 0 && relayed > 0, 'the vectors should cover blocked and relayed pairs')
})

test('writeMeshConfigsLean: an existing directory is tightened, other files kept', async (t) => {
  const mesh = seed({ presharedKeys: true })
  const p = plan(mesh)
  const { proof, paths } = await writeMeshConfigsLean(mesh, path.join(tempDir(t), 'out'))
  assert.equal(proof.pairsProven, 12)
  assert.deepEqual(paths.map((f) => path.basename(f)), ['hub.conf', 'node-1.conf', 'node-2.conf', 'node-3.conf'])
  assert.equal(fs.readFileSync(paths[0], 'utf8'), p.render('hub'))
  await assertRewritesALooseDirectory(t, writeMeshConfigsLean, mesh, p)
})

test('writeMeshConfigsLean reads the mesh as it is at the call', async (t) => {
  const mesh = seed({ presharedKeys: true })
  const expected = verify(plan(mesh))
  const pending = writeMeshConfigsLean(mesh, path.join(tempDir(t), 'out'))
  mesh.removeNode('node-3')
  const { proof, paths } = await pending
  assert.equal(paths.length, 4)
  assert.deepEqual(proof, expected)
})

test('writeMeshConfigsLean rejects with what writeMeshConfigs rejects with (the plan_toml and verify_toml error vectors)', async (t) => {
  const cases = readJson(path.join(VECTORS, 'errors.json')).cases.filter((c) => ['plan_toml', 'verify_toml'].includes(c.operation))
  assert.deepEqual([...new Set(cases.map((c) => c.operation))].sort(), ['plan_toml', 'verify_toml'])
  for (const c of cases) {
    const mesh = Mesh.fromToml(c.input)
    const dir = tempDir(t)
    fs.writeFileSync(path.join(dir, 'keep.conf'), 'old\n')
    let full
    await assert.rejects(writeMeshConfigs(mesh, dir), (err) => {
      full = err
      return true
    })
    await assert.rejects(writeMeshConfigsLean(mesh, dir), (err) => {
      assert.equal(err.code, c.code, c.name)
      assert.equal(err.code, full.code)
      assert.equal(err.family, full.family)
      assert.equal(err.message, full.message)
      assert.deepEqual(err.pairs, full.pairs)
      assert.deepEqual(err.problems, full.problems)
      if (err.code === 'verify_failed') assert.ok(err.problems.length > 0)
      if (err.code === 'plan_unroutable_pair') assert.ok(err.pairs.length > 0)
      return true
    })
    assert.deepEqual(fs.readdirSync(dir), ['keep.conf'], c.name)
    assert.equal(fs.readFileSync(path.join(dir, 'keep.conf'), 'utf8'), 'old\n', c.name)
  }
})

test('writeMeshConfigsLean refuses a bad format as writeMeshConfigs does, and reports io errors', async (t) => {
  const mesh = seed({ presharedKeys: true })
  const base = tempDir(t)
  let expected
  await assert.rejects(writeMeshConfigs(mesh, path.join(base, 'full'), 'yaml'), (err) => {
    expected = err
    return true
  })
  await assert.rejects(writeMeshConfigsLean(mesh, path.join(base, 'configs'), 'yaml'), (err) => {
    assert.equal(err.code, 'mesh_invalid_value')
    assert.equal(err.code, expected.code)
    assert.equal(err.message, expected.message)
    assert.equal(err.field, expected.field)
    return true
  })
  assert.ok(!fs.existsSync(path.join(base, 'configs')))
  fs.writeFileSync(path.join(base, 'file'), 'x')
  await assert.rejects(writeMeshConfigsLean(mesh, path.join(base, 'file', 'configs')), (err) => err.family === 'io' && err.code.startsWith('io_'))
})
