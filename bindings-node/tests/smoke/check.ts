// Type-checked (tsc --noEmit, strict) against the installed package's index.d.ts by run-tests.sh, as
// a TypeScript user would write it. Not run.
import {
  Mesh,
  MeshSettings,
  MeshNode,
  Plan,
  Proof,
  Problem,
  WgConfig,
  WiremeshError,
  ErrorCode,
  ERROR_CODES,
  PrivateKey,
  PresharedKey,
  Pool,
  plan,
  verify,
  check,
  writeConfigs,
  writeMeshConfigs,
  MeshConfigsWritten,
  writeMeshConfigsLean,
  MeshConfigsWrittenLean,
  parseWgQuick,
  renderWgQuick,
  importWgQuick,
  renderDot,
  isWiremeshError,
  DeviceState,
  DeviceUpdate,
  PeerState,
  UapiClient,
  parseUapiGetResponse,
  parseUapiSetRequest,
  parseUapiSetResponse,
  renderUapiGetResponse,
  renderUapiSetRequest,
  renderUapiErrno,
} from 'wiremesh'

const settings: MeshSettings = { name: 'seed', networks: ['10.88.0.0/24'], topology: 'full-mesh', presharedKeys: true }
const mesh: Mesh = new Mesh(settings)
const hub: MeshNode = { name: 'hub', endpoint: '167.172.142.145:51820', relay: true, privateKey: PrivateKey.generate() }
mesh.addNode(hub)
mesh.addNode({ name: 'node-1', groups: ['laptops'] })
mesh.addRule({ between: ['laptops', '*'], link: 'direct' })
const generated: { keys: string[] } = mesh.generateMissing()
const p: Plan = plan(mesh)
const proof: Proof = verify(p)
const pairs: number = proof.pairsProven + generated.keys.length
const problems: Problem[] = check(p).problems
const firstPair: string[] | null = problems.length > 0 ? problems[0].pair : null
const text: string = p.render('node-1', 'setconf')
const config: WgConfig = parseWgQuick(text)
const again: string = renderWgQuick(config)
const psk: PresharedKey | undefined = config.peers?.[0]?.presharedKey
const written: Promise<string[]> = writeConfigs(p, '/tmp/wiremesh-types', 'wg-quick')
const meshWritten: Promise<MeshConfigsWritten> = writeMeshConfigs(mesh, '/tmp/wiremesh-types', 'setconf')
const meshCounts: Promise<number> = meshWritten.then(({ plan: proven, paths }) => proven.nodeNames.length + paths.length)
const leanWritten: Promise<MeshConfigsWrittenLean> = writeMeshConfigsLean(mesh, '/tmp/wiremesh-types', 'wg-quick')
const leanCounts: Promise<number> = leanWritten.then(({ proof: proven, paths }) => proven.pairsProven + paths.length)
const loaded: Promise<Mesh> = Mesh.load('/tmp/seed.toml')
const imported: Mesh = importWgQuick({ hub: again }, { name: 'imported' })
const dot: string = renderDot(p)
const capacity: bigint = new Pool('10.0.0.0/24').capacity
const codes: readonly ErrorCode[] = ERROR_CODES

const update: DeviceUpdate = {
  privateKey: PrivateKey.generate(),
  listenPort: 51820,
  replacePeers: true,
  peers: [{ publicKey: 'base64-or-hex', presharedKey: null, allowedIps: ['10.88.0.2/32', '-10.0.0.0/8'] }],
}
const request: string = renderUapiSetRequest(update)
const reparsed: DeviceUpdate = parseUapiSetRequest(request)
const state: DeviceState = parseUapiGetResponse(renderUapiGetResponse({ listenPort: 1 }))
const peerStates: PeerState[] = state.peers ?? []
const rxTotal: number = peerStates.reduce((sum, peer) => sum + (peer.rxBytes ?? 0), 0)
parseUapiSetResponse(renderUapiErrno(0))
async function push(): Promise<DeviceState> {
  const client: UapiClient = await UapiClient.connect('wg0')
  await client.set(reparsed)
  const got: DeviceState = await client.get()
  client.close()
  return got
}

function describe(err: unknown): string {
  if (isWiremeshError(err)) {
    const e: WiremeshError = err
    switch (e.code) {
      case 'verify_failed':
        return `${e.problems?.length ?? 0} problems`
      case 'mesh_invalid_name':
        return `bad name at ${e.field}`
      case 'config_syntax':
        return `${e.location?.source}:${e.location?.line}`
      case 'uapi_errno':
        return `device refused: errno ${e.errno}`
      case 'uapi_invalid_value':
        return `line ${e.line}: ${e.key}`
      default:
        return e.code
    }
  }
  return String(err)
}

// @ts-expect-error: node names are strings
mesh.addNode({ name: 42 })
// @ts-expect-error: not a format
p.render('hub', 'yaml')
// @ts-expect-error: secrets are key objects, never text
renderUapiSetRequest({ privateKey: 'text' })
// @ts-expect-error: a peer names its public key
renderUapiSetRequest({ peers: [{ endpoint: '192.0.2.1:1' }] })
// @ts-expect-error: not an error code
const bogus: ErrorCode = 'no_such_code'

export { pairs, firstPair, psk, written, loaded, imported, dot, capacity, codes, describe, bogus, rxTotal, push }
