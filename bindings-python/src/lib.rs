//! `wiremesh._native`: the Python bindings of wiremesh (imported through the `wiremesh` package, which
//! re-exports everything here). The bindings hold no logic of their own: they convert types, release
//! the GIL around heavy work, and map the core's errors to one exception hierarchy (see [`errors`]).

mod agent;
mod config;
mod convert;
#[cfg(target_os = "linux")]
mod device;
mod errors;
mod failover;
mod keys;
mod mesh;
mod plan;
mod pool;
mod reconcile;
mod status;
mod uapi;

use pyo3::prelude::*;
use pyo3::types::PyTuple;

/// The native module.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    errors::register(m)?;
    m.add_class::<keys::PyPrivateKey>()?;
    m.add_class::<keys::PyPublicKey>()?;
    m.add_class::<keys::PyPresharedKey>()?;
    m.add_class::<pool::PyPool>()?;
    m.add_class::<mesh::PyMesh>()?;
    m.add_class::<mesh::PyNode>()?;
    m.add_class::<plan::PyPlan>()?;
    m.add_class::<plan::PyNodePlan>()?;
    m.add_class::<plan::PyPeerPlan>()?;
    m.add_class::<plan::PyProof>()?;
    m.add_class::<plan::PyProblem>()?;
    m.add_class::<config::PyWgConfig>()?;
    m.add_class::<uapi::PyDeviceState>()?;
    m.add_class::<uapi::PyPeerState>()?;
    m.add_class::<uapi::PyDeviceUpdate>()?;
    m.add_class::<uapi::PyPeerUpdate>()?;
    m.add_class::<uapi::PyUapiClient>()?;
    #[cfg(target_os = "linux")]
    m.add_class::<device::PyDevice>()?;
    m.add_class::<agent::PyAgent>()?;
    m.add_function(wrap_pyfunction!(plan::plan, m)?)?;
    m.add_function(wrap_pyfunction!(plan::verify, m)?)?;
    m.add_function(wrap_pyfunction!(plan::check_plan, m)?)?;
    m.add_function(wrap_pyfunction!(plan::write_configs, m)?)?;
    m.add_function(wrap_pyfunction!(plan::write_proven_configs, m)?)?;
    m.add_function(wrap_pyfunction!(plan::write_mesh_configs, m)?)?;
    m.add_function(wrap_pyfunction!(plan::write_mesh_configs_lean, m)?)?;
    m.add_function(wrap_pyfunction!(plan::render_dot, m)?)?;
    m.add_function(wrap_pyfunction!(failover::plan_with_relays_down, m)?)?;
    m.add_function(wrap_pyfunction!(failover::check_failover, m)?)?;
    m.add_function(wrap_pyfunction!(failover::verify_failover, m)?)?;
    m.add_function(wrap_pyfunction!(config::parse_wg_quick, m)?)?;
    m.add_function(wrap_pyfunction!(config::parse_setconf, m)?)?;
    m.add_function(wrap_pyfunction!(config::render_wg_quick, m)?)?;
    m.add_function(wrap_pyfunction!(config::render_setconf, m)?)?;
    m.add_function(wrap_pyfunction!(config::import_wg_quick, m)?)?;
    m.add_function(wrap_pyfunction!(config::import_meshconf, m)?)?;
    m.add_function(wrap_pyfunction!(config::check_name, m)?)?;
    m.add_function(wrap_pyfunction!(config::parse_endpoint, m)?)?;
    m.add_function(wrap_pyfunction!(config::parse_reservation, m)?)?;
    m.add_function(wrap_pyfunction!(config::is_safe_value, m)?)?;
    m.add_function(wrap_pyfunction!(uapi::parse_uapi_get_response, m)?)?;
    m.add_function(wrap_pyfunction!(uapi::parse_uapi_set_request, m)?)?;
    m.add_function(wrap_pyfunction!(uapi::parse_uapi_set_response, m)?)?;
    m.add_function(wrap_pyfunction!(uapi::render_uapi_get_response, m)?)?;
    m.add_function(wrap_pyfunction!(uapi::render_uapi_set_request, m)?)?;
    m.add_function(wrap_pyfunction!(uapi::render_uapi_errno, m)?)?;
    m.add_function(wrap_pyfunction!(uapi::uapi_socket_path, m)?)?;
    m.add_function(wrap_pyfunction!(reconcile::diff, m)?)?;
    m.add_function(wrap_pyfunction!(reconcile::describe, m)?)?;
    m.add_function(wrap_pyfunction!(reconcile::apply_update, m)?)?;
    m.add_function(wrap_pyfunction!(reconcile::apply, m)?)?;
    m.add_class::<status::PyStatus>()?;
    m.add_class::<status::PyProber>()?;
    m.add_class::<status::PyStatusServer>()?;
    m.add_function(wrap_pyfunction!(status::parse_wg_dump, m)?)?;
    m.add_function(wrap_pyfunction!(status::parse_wg_dump_all, m)?)?;
    m.add_function(wrap_pyfunction!(status::device_status, m)?)?;
    m.add_function(wrap_pyfunction!(status::render_prometheus, m)?)?;
    m.add("HEALTH_CODES", PyTuple::new(py, wiremesh::HEALTH_CODES)?)?;
    m.add("ERROR_CODES", PyTuple::new(py, wiremesh::ALL_CODES)?)?;
    m.add("PROBLEM_CODES", PyTuple::new(py, wiremesh::PROBLEM_CODES)?)?;
    m.add("FORMATS", PyTuple::new(py, ["wg-quick", "setconf"])?)?;
    m.add("KEY_LEN", wiremesh::KEY_LEN)?;
    m.add("MAX_NAME_LEN", wiremesh::MAX_NAME_LEN)?;
    m.add("UAPI_SOCKET_DIR", wiremesh::uapi::SOCKET_DIR)?;
    m.add("UAPI_MAX_MESSAGE_BYTES", wiremesh::uapi::MAX_MESSAGE_BYTES)?;
    m.add("UAPI_MAX_LINE_BYTES", wiremesh::uapi::MAX_LINE_BYTES)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
