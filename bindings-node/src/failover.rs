//! Redundant relays: `planWithRelaysDown`, `checkFailover`, `verifyFailover`.

use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::error::IntoJs;
use crate::mesh::Mesh;
use crate::plan::{from_report, Plan, Problem};

/// What a failover check proved.
#[napi(object)]
pub struct FailoverProof {
    /// Relays taken down one at a time (every relay that carries at least one pair).
    pub relays_checked: Vec<String>,
    /// Ordered pairs proven reachable, summed over the scenarios.
    pub pairs_proven: u32,
    /// Ordered pairs that moved to a backup relay, summed over the scenarios.
    pub pairs_failed_over: u32,
    /// Ordered pairs cut because their only relay was down, summed over the scenarios.
    pub pairs_without_backup: u32,
}

/// What `checkFailover` found.
#[napi(object)]
pub struct FailoverCheck {
    /// What was proven.
    pub proof: FailoverProof,
    /// Every problem found (code `failover_unreachable`).
    pub problems: Vec<Problem>,
}

fn proof_object(proof: &wiremesh::FailoverProof) -> FailoverProof {
    let n = |v: usize| u32::try_from(v).unwrap_or(u32::MAX);
    FailoverProof {
        relays_checked: proof.relays_checked.iter().map(ToString::to_string).collect(),
        pairs_proven: n(proof.pairs_proven),
        pairs_failed_over: n(proof.pairs_failed_over),
        pairs_without_backup: n(proof.pairs_without_backup),
    }
}

/// Plans the mesh as if the relays named in `down` were down: their relayed pairs move to the first live
/// backup relay, pairs left without one are blocked, the down relays keep only their own addresses.
/// Throws `mesh_unknown_node` for a name that is not a relay.
#[napi]
pub fn plan_with_relays_down(env: Env, mesh: &Mesh, down: Vec<String>) -> Result<Plan> {
    let planned = wiremesh::plan_with_relays_down(&mesh.lock(), &down).js(&env)?;
    Plan::new(&env, planned)
}

/// Checks that every pair with a backup relay still works with any single relay down, without
/// throwing for failover problems.
#[napi]
pub fn check_failover(env: Env, mesh: &Mesh) -> Result<FailoverCheck> {
    let (proof, problems) = wiremesh::check_failover(&mesh.lock()).js(&env)?;
    Ok(FailoverCheck {
        proof: proof_object(&proof),
        problems: problems.iter().map(|p| from_report(wiremesh::problem_json(p))).collect::<Result<_>>()?,
    })
}

/// Proves failover (see `checkFailover`): the proof, or throws `verify_failed` with `problems`.
#[napi]
pub fn verify_failover(env: Env, mesh: &Mesh) -> Result<FailoverProof> {
    wiremesh::verify_failover(&mesh.lock()).map(|p| proof_object(&p)).js(&env)
}
