'use strict'
// The package entry point (CommonJS; index.mjs re-exports it for ESM). The native addon is loaded by
// native.js, which `napi build` generates; this file only adds what JavaScript alone can express:
// util.inspect hooks that keep secrets out of console output, and the code lists as frozen arrays.
// Types: index.d.ts (generated from the Rust doc comments and dts-header.d.ts).

const util = require('node:util')
const native = require('./native.js')

const inspect = util.inspect.custom

// Secrets never show themselves: toString/toJSON are defined natively; util.inspect (console.log,
// the REPL, assertion messages) goes through this hook. The UAPI's plain objects (DeviceState,
// DeviceUpdate, …) hold their secrets as these key objects, so they are covered too.
for (const name of ['PrivateKey', 'PresharedKey']) {
  Object.defineProperty(native[name].prototype, inspect, {
    value: function () {
      return `${name}(<redacted>)`
    },
  })
}
Object.defineProperty(native.PublicKey.prototype, inspect, {
  value: function () {
    return `PublicKey(${this.toBase64()})`
  },
})
for (const name of ['Mesh', 'Plan', 'Pool', 'UapiClient']) {
  Object.defineProperty(native[name].prototype, inspect, {
    value: function () {
      return this.toString()
    },
  })
}

const ERROR_CODES = Object.freeze(native.errorCodes())
const PROBLEM_CODES = Object.freeze(native.problemCodes())
const codeSet = new Set(ERROR_CODES)

/** Whether `value` is an error thrown by wiremesh (an Error whose `code` is in ERROR_CODES). */
function isWiremeshError(value) {
  return value instanceof Error && typeof value.code === 'string' && codeSet.has(value.code)
}

module.exports = {
  ...native,
  ERROR_CODES,
  PROBLEM_CODES,
  isWiremeshError,
}
