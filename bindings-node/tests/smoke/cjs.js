// Run by run-tests.sh in an empty project where the packed tarball is installed: require works.
'use strict'
const assert = require('node:assert/strict')
const util = require('node:util')
const wiremesh = require('wiremesh')

const key = wiremesh.PrivateKey.generate()
assert.equal(util.inspect(key), 'PrivateKey(<redacted>)')
assert.throws(() => wiremesh.PublicKey.fromBase64('nope'), { code: 'key_invalid_base64', family: 'key' })
assert.throws(() => wiremesh.parseUapiSetResponse('errno=-22\n\n'), { code: 'uapi_errno', family: 'uapi', errno: 22 })
assert.deepEqual(Object.keys(require('wiremesh/package.json')).includes('name'), true)
console.log(`require ok: ${wiremesh.ERROR_CODES.length} error codes`)
