'use strict'
const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const w = require('..')
const { VECTORS, readJson, configFromVector } = require('./helpers')

const doc = readJson(path.join(VECTORS, 'errors.json'))

/** Runs one operation of errors.json (every one its `about` lists). */
async function run(operation, input) {
  switch (operation) {
    case 'private_key':
      return w.PrivateKey.fromBase64(input)
    case 'public_key':
      return w.PublicKey.fromBase64(input)
    case 'preshared_key':
      return w.PresharedKey.fromBase64(input)
    case 'public_key_hex':
      return w.PublicKey.fromHex(input)
    case 'name':
      return w.validateName(input)
    case 'endpoint':
      return w.parseEndpoint(input)
    case 'reservation':
      return w.parseReservation(input)
    case 'mesh_toml':
      return w.Mesh.fromToml(input)
    case 'mesh_json':
      return w.Mesh.fromJson(input)
    case 'remove_node':
      return w.Mesh.fromToml(input).removeNode('nobody')
    case 'plan_toml':
      return w.plan(w.Mesh.fromToml(input))
    case 'verify_toml':
      return w.verify(w.plan(w.Mesh.fromToml(input)))
    case 'parse_wg_quick':
      return w.parseWgQuick(input, 'vector')
    case 'parse_setconf':
      return w.parseSetconf(input, 'vector')
    case 'render_wg_quick':
      return w.renderWgQuick(configFromVector(input))
    case 'pool': {
      const pool = new w.Pool(input.network)
      for (const r of input.reserve ?? []) pool.reserve(r)
      for (const a of input.assign ?? []) pool.assign(a)
      for (const a of input.release ?? []) pool.release(a)
      for (let i = 0; i < (input.allocate ?? 0); i++) pool.allocate()
      return pool
    }
    case 'load_mesh_file':
      return await w.Mesh.load(path.join(VECTORS, input))
    case 'uapi_set_request':
      return w.parseUapiSetRequest(input)
    case 'uapi_set_response':
      return w.parseUapiSetResponse(input)
    case 'uapi_get_response':
      return w.parseUapiGetResponse(input)
    default:
      throw new Error(`unknown operation ${operation}`)
  }
}

test('ERROR_CODES is exactly the vectors\' list of codes (the core\'s ALL_CODES)', () => {
  assert.deepEqual([...w.ERROR_CODES], doc.codes)
  assert.ok(Object.isFrozen(w.ERROR_CODES))
})

test('the ErrorCode type in index.d.ts lists exactly ERROR_CODES', () => {
  const dts = fs.readFileSync(path.join(__dirname, '..', 'index.d.ts'), 'utf8')
  const block = dts.match(/export type ErrorCode =([\s\S]*?)\n\n/)[1]
  const listed = [...block.matchAll(/'([a-z0-9_]+)'/g)].map((m) => m[1])
  assert.deepEqual(listed, doc.codes)
})

test('every operation the vectors list is implemented', async () => {
  const listed = doc.about.match(/Operations: (.*?)\. `codes`/)[1]
  let bare = listed
  while (/\([^()]*\)/.test(bare)) bare = bare.replace(/\s*\([^()]*\)/g, '')
  const ops = bare.split(/,\s*|\//).map((op) => op.trim())
  assert.ok(ops.every((op) => /^[a-z_]+$/.test(op)), `operations: ${ops.join(' ')}`)
  for (const op of ['private_key', 'pool', 'uapi_set_request', 'uapi_set_response', 'uapi_get_response']) {
    assert.ok(ops.includes(op), `the about text lists ${op}`)
  }
  for (const op of new Set(doc.cases.map((c) => c.operation))) assert.ok(listed.includes(op), op)
  for (const op of ops) {
    // `unknown operation` is the only way run() fails before reaching the binding.
    await assert.doesNotReject(async () => {
      try {
        await run(op, op === 'pool' ? { network: '10.0.0.0/24' } : op === 'load_mesh_file' ? 'nope' : '')
      } catch (err) {
        if (/^unknown operation/.test(err.message)) throw err
      }
    }, op)
  }
})

test('error vectors: each case throws its code, as an Error with family and message', async () => {
  const triggered = new Set()
  for (const c of doc.cases) {
    let error
    try {
      await run(c.operation, c.input)
    } catch (err) {
      error = err
    }
    assert.ok(error, `case ${JSON.stringify(c.name)} did not fail`)
    assert.ok(error instanceof Error, c.name)
    assert.equal(error.code, c.code, `case ${JSON.stringify(c.name)}: ${error.message}`)
    assert.equal(error.family, c.code.split('_')[0], c.name)
    assert.ok(w.isWiremeshError(error))
    assert.ok(error.message.length > 0)
    // Every variant has its details (a variant that fell through a wildcard would have none).
    const details = Object.keys(error).filter((k) => k !== 'code' && k !== 'family')
    assert.ok(details.length > 0, `case ${JSON.stringify(c.name)} (${c.code}) has no details`)
    triggered.add(c.code)
  }
  const covered = new Set([...triggered, ...Object.keys(doc.not_triggered)])
  assert.deepEqual([...covered].sort(), [...doc.codes].sort(), 'every code is triggered or explained')
})

test('the binding produces exactly the codes the vectors list', async () => {
  // Every code thrown above belongs to ERROR_CODES, and every ERROR_CODES entry is reachable or
  // explained: the binding neither invents codes nor loses any.
  const thrown = new Set()
  for (const c of doc.cases) {
    try {
      await run(c.operation, c.input)
    } catch (err) {
      thrown.add(err.code)
    }
  }
  for (const code of thrown) assert.ok(w.ERROR_CODES.includes(code), code)
  for (const code of w.ERROR_CODES) assert.ok(thrown.has(code) || code in doc.not_triggered, code)
})

test('verify_failed carries problems with code, pair, hop, prefix and message', () => {
  const c = doc.cases.find((x) => x.operation === 'verify_toml')
  assert.ok(c, 'errors.json has a verify_toml case')
  const p = w.plan(w.Mesh.fromToml(c.input))
  assert.throws(() => w.verify(p), (err) => {
    assert.equal(err.code, 'verify_failed')
    assert.equal(err.family, 'verify')
    assert.ok(Array.isArray(err.problems) && err.problems.length > 0)
    for (const problem of err.problems) {
      assert.deepEqual(Object.keys(problem).sort(), ['code', 'hop', 'message', 'pair', 'prefix'])
      assert.ok(w.PROBLEM_CODES.includes(problem.code), problem.code)
    }
    return true
  })
  const checked = w.check(p)
  assert.ok(checked.problems.length > 0)
  assert.deepEqual(
    checked.problems.map((x) => x.code),
    (() => {
      try {
        w.verify(p)
      } catch (err) {
        return err.problems.map((x) => x.code)
      }
    })(),
  )
})

test('plan_unroutable_pair names the pairs', () => {
  const mesh = new w.Mesh({ name: 't', networks: ['10.88.0.0/24'] })
  mesh.addNode({ name: 'a' })
  mesh.addNode({ name: 'b' })
  mesh.generateMissing()
  assert.throws(() => w.plan(mesh), (err) => {
    assert.equal(err.code, 'plan_unroutable_pair')
    assert.deepEqual(err.pairs, [['a', 'b']])
    return true
  })
})

test('uapi errors carry the line, the protocol key and the errno', async () => {
  const cases = doc.cases.filter((c) => c.operation.startsWith('uapi_'))
  assert.ok(cases.length >= 8)
  for (const c of cases) {
    await assert.rejects(async () => run(c.operation, c.input), (err) => {
      assert.equal(err.family, 'uapi', c.name)
      assert.equal(typeof err.line, 'number', c.name)
      assert.ok(Number.isInteger(err.errno) && err.errno > 0, c.name)
      return true
    })
  }
  const detail = (text, op = w.parseUapiSetRequest) => {
    try {
      op(text)
    } catch (err) {
      return err
    }
    assert.fail(`${JSON.stringify(text)} parsed`)
  }
  const range = detail('set=1\nlisten_port=65536\n\n')
  assert.deepEqual(
    { code: range.code, line: range.line, key: range.key, errno: range.errno },
    { code: 'uapi_invalid_value', line: 2, key: 'listen_port', errno: 22 },
  )
  assert.match(range.message, /line 2/)
  const unknown = detail(`set=1\npublic_key=${'a'.repeat(64)}\nlisten_port=1\n\n`)
  assert.deepEqual([unknown.code, unknown.line, unknown.key, unknown.errno], ['uapi_unknown_key', 3, 'listen_port', 22])
  const syntax = detail('set=1\nnonsense\n\n')
  assert.deepEqual([syntax.code, syntax.line, syntax.errno], ['uapi_syntax', 2, 71])
  assert.equal(typeof syntax.reason, 'string')
  const large = detail(`set=1\nlisten_port=${'1'.repeat(600)}\n\n`)
  assert.deepEqual([large.code, large.what, large.limit, large.errno], ['uapi_too_large', 'line', 512, 90])
  const refused = detail('errno=-98\n\n', w.parseUapiSetResponse)
  assert.deepEqual([refused.code, refused.family, refused.errno], ['uapi_errno', 'uapi', 98])
  assert.match(refused.message, /errno 98/)
  const getRefused = detail('errno=-1\n\n', w.parseUapiGetResponse)
  assert.deepEqual([getRefused.code, getRefused.errno], ['uapi_errno', 1])
  assert.equal(w.parseUapiSetResponse('errno=0\n\n'), undefined)
})

test('ipam errors carry the text that is not an address', () => {
  assert.throws(() => new w.Pool('10.0.0.0/33'), { code: 'ipam_invalid_address', family: 'ipam', text: '10.0.0.0/33', expected: 'CIDR block' })
  const pool = new w.Pool('10.0.0.0/24')
  for (const call of [(a) => pool.assign(a), (a) => pool.release(a), (a) => pool.contains(a), (a) => pool.isAllocated(a), (a) => pool.isReserved(a)]) {
    assert.throws(() => call('10.0.0.256'), { code: 'ipam_invalid_address', text: '10.0.0.256', expected: 'IP address' })
  }
})

test('malformed values from JavaScript get core codes', () => {
  assert.throws(() => new w.Pool('nope'), { code: 'ipam_invalid_address' })
  assert.throws(() => new w.Pool('10.0.0.0/24').assign('nope'), { code: 'ipam_invalid_address' })
  assert.throws(() => new w.Mesh({ name: 'x', networks: ['nope'] }), { code: 'mesh_syntax', field: 'mesh' })
  assert.throws(() => new w.Mesh({ name: 'x y', networks: ['10.0.0.0/24'] }), { code: 'mesh_invalid_name' })
  assert.throws(() => new w.Mesh({ name: 'x', networks: [] }), { code: 'mesh_invalid_value' })
  const mesh = new w.Mesh({ name: 'x', networks: ['10.0.0.0/24'] })
  assert.throws(() => mesh.addNode({ name: 'a', endpoint: 'nope' }), { code: 'mesh_invalid_endpoint', field: 'nodes[0]' })
  assert.throws(() => mesh.addNode({ name: 'a', publicKey: 'short' }), { code: 'key_invalid_base64' })
  assert.throws(() => mesh.addRule({ between: ['a', 'b'], link: 'direct' }), { code: 'mesh_unknown_group' })
  assert.throws(() => mesh.addRule({ between: ['*'], link: 'direct' }), { code: 'mesh_syntax' })
  assert.equal(mesh.nodes.length, 0, 'failed changes leave the mesh unchanged')
  assert.throws(() => w.plan(mesh).render('nobody'), { code: 'mesh_unknown_node' })
})
