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
// Device exists on Linux only (the userspace data path).
for (const name of ['Mesh', 'Plan', 'Pool', 'UapiClient', 'Device'].filter((n) => native[n])) {
  Object.defineProperty(native[name].prototype, inspect, {
    value: function () {
      return this.toString()
    },
  })
}

// Calls on one UapiClient run on the libuv thread pool, where the native side makes them take turns
// but not in any particular order; chaining each client's calls here makes them reach the device in the
// order they were made. `set` still throws at once for an update that cannot be sent: it is checked
// with the same conversion `renderUapiSetRequest` uses before it joins the queue.
const tails = new WeakMap()
const inOrder = (client, call) => {
  const result = (tails.get(client) ?? Promise.resolve()).then(call)
  tails.set(client, result.then(
    () => undefined,
    () => undefined,
  ))
  return result
}
{
  const { get: nativeGet, set: nativeSet } = native.UapiClient.prototype
  Object.defineProperty(native.UapiClient.prototype, 'get', {
    value: function get() {
      return inOrder(this, () => nativeGet.call(this))
    },
    writable: true,
    configurable: true,
  })
  Object.defineProperty(native.UapiClient.prototype, 'set', {
    value: function set(update) {
      native.renderUapiSetRequest(update)
      return inOrder(this, () => nativeSet.call(this, update))
    },
    writable: true,
    configurable: true,
  })
}

const ERROR_CODES = Object.freeze(native.errorCodes())
const PROBLEM_CODES = Object.freeze(native.problemCodes())
const HEALTH_CODES = Object.freeze(native.healthCodes())
const codeSet = new Set(ERROR_CODES)

/** Whether `value` is an error thrown by wiremesh (an Error whose `code` is in ERROR_CODES). */
function isWiremeshError(value) {
  return value instanceof Error && typeof value.code === 'string' && codeSet.has(value.code)
}

/**
 * Brings the device behind `client` to node `node` of `plan` (get, diff and, unless `options.dryRun`,
 * set), after the client's earlier calls. Resolves to `{ applied, changes, update }`.
 */
function apply(plan, node, client, options) {
  return inOrder(client, () => native.applyPlan(plan, node, client, options))
}

module.exports = {
  ...native,
  apply,
  ERROR_CODES,
  PROBLEM_CODES,
  HEALTH_CODES,
  isWiremeshError,
}
