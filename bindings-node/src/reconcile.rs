//! Live reconfiguration: `diff` (a plan node against a device's state → the minimal `DeviceUpdate`),
//! `describe` (the changes as plain objects, never a secret), `applyUpdate` (the UAPI `set` semantics,
//! pure) and `applyPlan` (get, diff and — unless a dry run — set through a `UapiClient`; index.js
//! exports it as `apply`, queued after the client's earlier calls).

use std::sync::Arc;

use napi::bindgen_prelude::*;
use napi_derive::napi;
use wiremesh::reconcile;

use crate::error::{js_error, CoreResult, IntoJs};
use crate::plan::Plan;
use crate::uapi::{
    core_state, core_update, state_object, update_object, Connection, DeviceState, DeviceUpdate, UapiClient,
};

fn unknown_node(node: &str) -> wiremesh::Error {
    wiremesh::MeshError::UnknownNode { field: "node".into(), name: node.into() }.into()
}

/// The minimal `DeviceUpdate` that turns `state` (a `DeviceState`, e.g. from `UapiClient.get()`) into
/// node `node` of `plan`: peers added and removed, changed peers sent with `updateOnly` and only what
/// differs; untouched peers are not mentioned. Empty (no peers, nothing set) when they match. DNS
/// endpoints are resolved (blocking). Throws `mesh_unknown_node`, `mesh_missing_key`,
/// `plan_device_key_mismatch`, `plan_unresolved_endpoint`.
#[napi]
pub fn diff<'env>(env: &'env Env, plan: &Plan, node: String, state: DeviceState<'_>) -> Result<DeviceUpdate<'env>> {
    let state = core_state(&state).js(env)?;
    let update = reconcile::diff(&plan.inner, &node, &state).js(env)?;
    update_object(env, &update)
}

/// The changes `update` makes, as plain objects: `change` (`private_key`, `listen_port`, `fwmark`,
/// `add_peer`, `remove_peer`, `update_peer`, `remove_all_peers`), the fields that change (snake_case, as
/// the CLI's `--json`), and `text`, one human-readable line. Peers are named after node `node` of
/// `plan`. Never contains a secret.
#[napi(ts_return_type = "Array<{ change: string; text: string; [field: string]: unknown }>")]
pub fn describe(env: Env, update: DeviceUpdate<'_>, plan: &Plan, node: String) -> Result<Vec<serde_json::Value>> {
    let update = core_update(&update).js(&env)?;
    let node_plan = plan.inner.node(&node).ok_or_else(|| unknown_node(&node)).js(&env)?;
    Ok(reconcile::describe(&update, node_plan).iter().map(|c| c.to_json()).collect())
}

/// The `DeviceState` a device reaches from `state` when it accepts `update` (the UAPI `set` semantics,
/// as wireguard-go applies them; statistics of the remaining peers are kept). Touches no device.
#[napi]
pub fn apply_update<'env>(
    env: &'env Env,
    state: DeviceState<'_>,
    update: DeviceUpdate<'_>,
) -> Result<DeviceState<'env>> {
    let state = core_state(&state).js(env)?;
    let update = core_update(&update).js(env)?;
    state_object(env, &wiremesh::uapi::apply_update(&state, &update))
}

/// Options of `apply`.
#[napi(object)]
pub struct ApplyOptions {
    /// Compute and describe the update without sending it.
    pub dry_run: Option<bool>,
}

/// What `apply` did.
#[napi(object)]
pub struct ApplyResult<'a> {
    /// True when the update was sent and accepted (false on a dry run or with nothing to change).
    pub applied: bool,
    /// The changes, as `describe` returns them.
    #[napi(ts_type = "Array<{ change: string; text: string; [field: string]: unknown }>")]
    pub changes: Vec<serde_json::Value>,
    /// The update sent (or that a dry run would send).
    pub update: DeviceUpdate<'a>,
}

/// Background job: get, diff, set.
pub struct ApplyTask {
    plan: Arc<wiremesh::Plan>,
    node: String,
    connection: Arc<Connection>,
    dry_run: bool,
}

impl<'task> napi::ScopedTask<'task> for ApplyTask {
    type Output = CoreResult<reconcile::Applied>;
    type JsValue = ApplyResult<'task>;

    fn compute(&mut self) -> Result<Self::Output> {
        let (plan, node, dry_run) = (&self.plan, &self.node, self.dry_run);
        Ok(self.connection.run(|client| {
            let node_plan = plan.node(node).ok_or_else(|| unknown_node(node))?;
            reconcile::apply_node(node_plan, client, dry_run)
        }))
    }

    fn resolve(&mut self, env: &'task Env, output: Self::Output) -> Result<ApplyResult<'task>> {
        let outcome = output.map_err(|e| js_error(env, e))?;
        Ok(ApplyResult {
            applied: outcome.applied,
            changes: outcome.changes.iter().map(|c| c.to_json()).collect(),
            update: update_object(env, &outcome.update)?,
        })
    }
}

/// Brings the device behind `client` to node `node` of `plan`: `get`, `diff` and, unless
/// `options.dryRun` (or nothing differs), `set`. A dry run never writes to the device. Rejects with the
/// client's errors (`uapi_errno` when the device refuses, `io_*`) and `diff`'s. Exported as `apply`,
/// which runs after the client's earlier calls.
#[napi(ts_return_type = "Promise<ApplyResult>")]
pub fn apply_plan(
    plan: &Plan,
    node: String,
    client: &UapiClient,
    options: Option<ApplyOptions>,
) -> AsyncTask<ApplyTask> {
    let dry_run = options.and_then(|o| o.dry_run).unwrap_or(false);
    AsyncTask::new(ApplyTask { plan: plan.inner.clone(), node, connection: client.connection.clone(), dry_run })
}
