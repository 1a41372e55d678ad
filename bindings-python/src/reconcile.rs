//! Live reconfiguration: `diff` (a plan node against a device's state → the minimal DeviceUpdate),
//! `describe` (the changes, as dicts without secrets), `apply_update` (UAPI `set` semantics, pure) and
//! `apply` (get, diff and set through a UapiClient, or only report on a dry run).

use pyo3::prelude::*;
use wiremesh::reconcile;
use wiremesh::uapi;

use crate::convert::to_py;
use crate::errors::check;
use crate::plan::PyPlan;
use crate::uapi::{state_arg, update_arg, PyDeviceState, PyDeviceUpdate, PyUapiClient};

fn changes_to_py(py: Python<'_>, changes: &[reconcile::Change]) -> PyResult<Vec<PyObject>> {
    changes.iter().map(|c| to_py(py, &c.to_json())).collect()
}

/// The minimal DeviceUpdate that turns `state` (a DeviceState, e.g. `UapiClient.get()`) into node
/// `node` of `plan`: peers added and removed, changed peers sent with `update_only` and only what
/// differs; untouched peers are not mentioned. Empty (`DeviceUpdate()`) when they match. DNS endpoints
/// are resolved (with the GIL released). Raises MeshError (mesh_unknown_node, mesh_missing_key) and
/// PlanError (plan_device_key_mismatch, plan_unresolved_endpoint).
#[pyfunction]
pub fn diff(py: Python<'_>, plan: PyRef<'_, PyPlan>, node: &str, state: &Bound<'_, PyAny>) -> PyResult<PyDeviceUpdate> {
    let state = state_arg(state)?;
    let plan = plan.inner.clone();
    let update = check(py.allow_threads(|| reconcile::diff(&plan, node, &state)))?;
    Ok(PyDeviceUpdate { inner: update })
}

/// The changes `update` makes, as dicts (`change`: private_key, listen_port, fwmark, add_peer,
/// remove_peer, update_peer, remove_all_peers; the fields that change; `text`: one human-readable line),
/// peers named after node `node` of `plan`. Never contains a secret.
#[pyfunction]
pub fn describe(
    py: Python<'_>,
    update: &Bound<'_, PyAny>,
    plan: PyRef<'_, PyPlan>,
    node: &str,
) -> PyResult<Vec<PyObject>> {
    let update = update_arg(update)?;
    let node_plan = plan.inner.node(node).ok_or_else(|| {
        crate::errors::to_py_err(
            py,
            wiremesh::MeshError::UnknownNode { field: "node".into(), name: node.into() }.into(),
        )
    })?;
    changes_to_py(py, &reconcile::describe(&update, node_plan))
}

/// The DeviceState a device reaches from `state` when it accepts `update` (the UAPI `set` semantics,
/// as wireguard-go applies them; statistics of remaining peers are kept). Pure: touches no device.
#[pyfunction]
pub fn apply_update(py: Python<'_>, state: &Bound<'_, PyAny>, update: &Bound<'_, PyAny>) -> PyResult<PyDeviceState> {
    let state = state_arg(state)?;
    let update = update_arg(update)?;
    Ok(PyDeviceState { inner: py.allow_threads(|| uapi::apply_update(&state, &update)) })
}

/// Brings the device behind `client` to node `node` of `plan`: `get`, `diff`, and unless `dry_run` (or
/// nothing differs) `set`. Returns `{"applied": bool, "changes": [dict, ...], "update": DeviceUpdate}`.
/// A dry run never writes to the device. Raises the client's errors (UapiError uapi_errno when the
/// device refuses) and `diff`'s.
#[pyfunction]
#[pyo3(signature = (plan, node, client, *, dry_run = false))]
pub fn apply(
    py: Python<'_>,
    plan: PyRef<'_, PyPlan>,
    node: &str,
    client: PyRef<'_, PyUapiClient>,
    dry_run: bool,
) -> PyResult<PyObject> {
    let plan = plan.inner.clone();
    let node = node.to_string();
    let outcome = client.call(py, move |c| {
        let node_plan = plan.node(&node).ok_or_else(|| {
            wiremesh::Error::from(wiremesh::MeshError::UnknownNode { field: "node".into(), name: node.clone() })
        })?;
        reconcile::apply_node(node_plan, c, dry_run)
    })?;
    let result = pyo3::types::PyDict::new(py);
    result.set_item("applied", outcome.applied)?;
    result.set_item("changes", changes_to_py(py, &outcome.changes)?)?;
    result.set_item("update", PyDeviceUpdate { inner: outcome.update })?;
    Ok(result.into_any().unbind())
}
