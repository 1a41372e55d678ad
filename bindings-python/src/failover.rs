//! Redundant relays: plans with relays considered down, and the failover proof.

use pyo3::prelude::*;

use crate::convert::to_py;
use crate::errors::check;
use crate::mesh::PyMesh;
use crate::plan::{PyPlan, PyProblem};

/// Plans `mesh` as if the relays named in `down` were down (GIL released): their relayed pairs move to
/// the first live backup relay, pairs left without one are blocked, the down relays keep only their own
/// addresses. Raises MeshError (`mesh_unknown_node`) for a name that is not a relay.
#[pyfunction]
pub fn plan_with_relays_down(py: Python<'_>, mesh: PyRef<'_, PyMesh>, down: Vec<String>) -> PyResult<PyPlan> {
    let inner = &mesh.inner;
    let plan = check(py.allow_threads(|| wiremesh::plan_with_relays_down(inner, &down)))?;
    Ok(PyPlan { inner: std::sync::Arc::new(plan) })
}

/// Checks that every pair with a backup relay still works with any single relay down, without raising:
/// `(proof, problems)` where proof is a dict (`relays_checked`, `pairs_proven`, `pairs_failed_over`,
/// `pairs_without_backup`) and problems have code `failover_unreachable`.
#[pyfunction]
pub fn check_failover(py: Python<'_>, mesh: PyRef<'_, PyMesh>) -> PyResult<(PyObject, Vec<PyProblem>)> {
    let inner = &mesh.inner;
    let (proof, problems) = check(py.allow_threads(|| wiremesh::check_failover(inner)))?;
    Ok((to_py(py, &wiremesh::failover_proof_json(&proof))?, problems.into_iter().map(PyProblem::from).collect()))
}

/// Proves failover (see `check_failover`): returns the proof dict, or raises VerifyError with the
/// problems.
#[pyfunction]
pub fn verify_failover(py: Python<'_>, mesh: PyRef<'_, PyMesh>) -> PyResult<PyObject> {
    let inner = &mesh.inner;
    let proof = check(py.allow_threads(|| wiremesh::verify_failover(inner)))?;
    to_py(py, &wiremesh::failover_proof_json(&proof))
}
