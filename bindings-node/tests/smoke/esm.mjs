// Run by run-tests.sh in an empty project where the packed tarball is installed: ESM import works.
import wiremesh, { Mesh, plan, verify, ERROR_CODES } from 'wiremesh'

const mesh = new Mesh({ name: 'esm', networks: ['10.1.0.0/24'] })
mesh.addNode({ name: 'a', endpoint: '192.0.2.1:51820', relay: true })
mesh.addNode({ name: 'b' })
mesh.addNode({ name: 'c' })
mesh.generateMissing()
const proof = verify(plan(mesh))
if (proof.pairsProven !== 6 || wiremesh.Mesh !== Mesh || !ERROR_CODES.includes('verify_failed')) {
  throw new Error('ESM import misbehaves')
}
console.log(`esm import ok: ${proof.pairsProven} pairs proven`)
