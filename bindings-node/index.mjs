// ESM entry point: the same module as index.js (CommonJS), re-exported by name.
import wiremesh from './index.js'

export const {
  ERROR_CODES,
  PROBLEM_CODES,
  MAX_NAME_LEN,
  isWiremeshError,
  errorCodes,
  problemCodes,
  PrivateKey,
  PublicKey,
  PresharedKey,
  Pool,
  parseReservation,
  Mesh,
  Plan,
  plan,
  verify,
  check,
  writeConfigs,
  renderDot,
  parseWgQuick,
  parseSetconf,
  renderWgQuick,
  renderSetconf,
  importWgQuick,
  importMeshconf,
  validateName,
  parseEndpoint,
  isSafeValue,
  keyDirName,
} = wiremesh

export default wiremesh
