#!/usr/bin/env node
// Fails when the committed index.d.ts is stale: rebuilds the addon (which regenerates index.d.ts from
// the Rust doc comments and dts-header.d.ts) and compares. The regenerated file is left in place, so
// committing it fixes the check.
'use strict'
const { execFileSync } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')

const file = path.join(__dirname, '..', 'index.d.ts')
const before = fs.readFileSync(file, 'utf8')
if (!process.argv.includes('--no-build')) {
  execFileSync('npm', ['run', '--silent', 'build'], { cwd: path.dirname(file), stdio: 'inherit' })
}
const after = fs.readFileSync(file, 'utf8')
if (before !== after) {
  const a = before.split('\n')
  const b = after.split('\n')
  let i = 0
  while (i < a.length && a[i] === b[i]) i++
  console.error(`index.d.ts is stale (first difference at line ${i + 1}):`)
  console.error(`  committed:   ${a[i] ?? '<end of file>'}`)
  console.error(`  regenerated: ${b[i] ?? '<end of file>'}`)
  console.error('Commit the regenerated bindings-node/index.d.ts.')
  process.exit(1)
}
console.log('index.d.ts is up to date')
