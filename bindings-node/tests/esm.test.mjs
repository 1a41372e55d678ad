// The package works through `import` too, with the same exports as `require`.
import test from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import wiremesh, * as named from 'wiremesh'
import { Mesh, plan, verify, ERROR_CODES } from 'wiremesh'

const require = createRequire(import.meta.url)

test('ESM exports are the CommonJS exports', () => {
  const cjs = require('wiremesh')
  assert.equal(wiremesh, cjs)
  const exported = Object.keys(named).filter((k) => k !== 'default').sort()
  const expected = Object.keys(cjs).filter((k) => k !== '__napiBindingTarget').sort()
  assert.deepEqual(exported, expected)
  for (const key of exported) assert.equal(named[key], cjs[key], key)
})

test('ESM: plan and verify', () => {
  const mesh = new Mesh({ name: 'esm', networks: ['10.1.0.0/24'] })
  mesh.addNode({ name: 'a', endpoint: '192.0.2.1:51820' })
  mesh.addNode({ name: 'b' })
  mesh.generateMissing()
  assert.equal(verify(plan(mesh)).pairsProven, 2)
  assert.ok(ERROR_CODES.includes('verify_failed'))
})
