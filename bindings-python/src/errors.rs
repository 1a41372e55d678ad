//! The exception hierarchy and the one mapping from the core's [`wiremesh::Error`] to it.
//!
//! ```text
//! Exception
//! └── WiremeshError                 .code: the core's stable code
//!     ├── KeyFormatError            key_*
//!     ├── IpamError                 ipam_*
//!     ├── MeshError                 mesh_*
//!     ├── ConfigError               config_*   (+ .source_name, .line, .section, .key)
//!     ├── PlanError                 plan_*     (+ .pairs)
//!     ├── VerifyError               verify_*   (+ .problems: list[Problem])
//!     ├── UapiError                 uapi_*     (+ .line, .key, .errno)
//!     └── WiremeshOSError (OSError) io_other   (+ .op, .filename)
//!         ├── NotFoundError (FileNotFoundError)        io_not_found
//!         ├── PermissionDeniedError (PermissionError)  io_permission_denied
//!         └── AlreadyExistsError (FileExistsError)     io_already_exists
//! ```
//!
//! The classes are created when the module is initialised (the OS error classes need two bases, which
//! `create_exception!` cannot express) and registered under `wiremesh`.

use pyo3::exceptions::{PyException, PyFileExistsError, PyFileNotFoundError, PyOSError, PyPermissionError};
use pyo3::prelude::*;
use pyo3::sync::GILOnceCell;
use pyo3::types::{PyDict, PyList, PyTuple, PyType};
use pyo3::IntoPyObjectExt;
use wiremesh::{Error, PlanError, UapiError};

use crate::plan::PyProblem;

/// Every exception class, created once per interpreter.
pub struct Classes {
    base: Py<PyType>,
    key: Py<PyType>,
    ipam: Py<PyType>,
    mesh: Py<PyType>,
    config: Py<PyType>,
    plan: Py<PyType>,
    verify: Py<PyType>,
    uapi: Py<PyType>,
    os: Py<PyType>,
    not_found: Py<PyType>,
    permission: Py<PyType>,
    exists: Py<PyType>,
}

static CLASSES: GILOnceCell<Classes> = GILOnceCell::new();

fn new_class(py: Python<'_>, name: &str, bases: &[&Bound<'_, PyType>], doc: &str) -> PyResult<Py<PyType>> {
    let namespace = PyDict::new(py);
    namespace.set_item("__module__", "wiremesh")?;
    namespace.set_item("__doc__", doc)?;
    let bases = PyTuple::new(py, bases)?;
    let class = py.get_type::<PyType>().call1((name, bases, namespace))?;
    Ok(class.downcast_into::<PyType>()?.unbind())
}

/// The exception classes (created on first use).
pub fn classes(py: Python<'_>) -> PyResult<&Classes> {
    CLASSES.get_or_try_init(py, || {
        let exception = py.get_type::<PyException>();
        let base = new_class(
            py,
            "WiremeshError",
            &[&exception],
            "Base of every error wiremesh raises. `code` is the core's stable snake_case code (one of ERROR_CODES).",
        )?;
        let family = |name: &str, doc: &str| new_class(py, name, &[base.bind(py)], doc);
        let key = family("KeyFormatError", "A key could not be parsed (codes key_*). Never contains the key text.")?;
        let ipam = family("IpamError", "Address allocation failed (codes ipam_*).")?;
        let mesh = family("MeshError", "The mesh description is invalid (codes mesh_*).")?;
        let config = family(
            "ConfigError",
            "A configuration text could not be parsed or rendered (codes config_*). `source_name`, `line`, \
             `section` and `key` say where.",
        )?;
        let plan = family(
            "PlanError",
            "The planner could not build a plan (codes plan_*). `pairs` lists the pairs it could not connect.",
        )?;
        let verify = family(
            "VerifyError",
            "The plan could not be proven (code verify_failed). `problems` lists every Problem found.",
        )?;
        let uapi = family(
            "UapiError",
            "A UAPI (get=1/set=1) message could not be parsed or built, was too large, or the device answered \
             with an error (codes uapi_*). `line` is the 1-based line (None when not tied to one), `key` the \
             protocol key concerned (or None), `errno` the positive errno: the device's answer for uapi_errno, \
             otherwise the one a device answers this error with.",
        )?;
        let os_error = py.get_type::<PyOSError>();
        let os = new_class(
            py,
            "WiremeshOSError",
            &[base.bind(py), &os_error],
            "A file or directory operation failed (code io_other for the general case). `op` names the operation \
             and `filename` the path.",
        )?;
        // OSError's str() shows `[Errno None] None: 'path'` once `filename` is set on an error built from
        // a message alone (io_other): show the message instead.
        let helpers = PyModule::from_code(
            py,
            c"def __str__(self):\n    if self.errno is None and len(self.args) == 1:\n        return str(self.args[0])\n    return OSError.__str__(self)\n",
            c"wiremesh/_errors.py",
            c"wiremesh._errors",
        )?;
        os.bind(py).setattr("__str__", helpers.getattr("__str__")?)?;
        let os_family =
            |name: &str, builtin: &Bound<'_, PyType>, doc: &str| new_class(py, name, &[os.bind(py), builtin], doc);
        let not_found = os_family(
            "NotFoundError",
            &py.get_type::<PyFileNotFoundError>(),
            "A file or directory does not exist (code io_not_found).",
        )?;
        let permission = os_family(
            "PermissionDeniedError",
            &py.get_type::<PyPermissionError>(),
            "The operating system refused access (code io_permission_denied).",
        )?;
        let exists = os_family(
            "AlreadyExistsError",
            &py.get_type::<PyFileExistsError>(),
            "A file that must not exist does (code io_already_exists).",
        )?;
        Ok(Classes { base, key, ipam, mesh, config, plan, verify, uapi, os, not_found, permission, exists })
    })
}

/// Adds the classes to the module.
pub fn register(module: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = module.py();
    let c = classes(py)?;
    for class in [
        &c.base,
        &c.key,
        &c.ipam,
        &c.mesh,
        &c.config,
        &c.plan,
        &c.verify,
        &c.uapi,
        &c.os,
        &c.not_found,
        &c.permission,
        &c.exists,
    ] {
        let class = class.bind(py);
        module.add(class.name()?, class)?;
    }
    Ok(())
}

/// THE mapping from core errors to Python exceptions: one class per family (an exhaustive match, so a
/// new family does not compile until it has a class), the stable code as `.code`, and the family's
/// details as attributes. Messages come from the core and never contain a secret.
pub fn to_py_err(py: Python<'_>, err: Error) -> PyErr {
    build(py, err).unwrap_or_else(|failed| failed)
}

fn build(py: Python<'_>, err: Error) -> PyResult<PyErr> {
    let c = classes(py)?;
    let code = err.code();
    let mut message = err.to_string();
    let mut attributes: Vec<(&str, PyObject)> = Vec::new();
    let (class, args): (&Py<PyType>, Bound<'_, PyTuple>) = match &err {
        Error::Key(_) => (&c.key, PyTuple::new(py, [&message])?),
        Error::Ipam(_) => (&c.ipam, PyTuple::new(py, [&message])?),
        Error::Mesh(_) => (&c.mesh, PyTuple::new(py, [&message])?),
        Error::Config(e) => {
            let at: &wiremesh::TextLocation = e.location();
            attributes.push(("source_name", at.source_name.clone().into_py_any(py)?));
            attributes.push(("line", at.line.into_py_any(py)?));
            attributes.push(("section", at.section.clone().into_py_any(py)?));
            attributes.push(("key", at.key.clone().into_py_any(py)?));
            (&c.config, PyTuple::new(py, [&message])?)
        }
        Error::Plan(e) => {
            let pairs: Vec<(String, String)> = match e {
                PlanError::UnroutablePair { pairs } => pairs.clone(),
                _ => Vec::new(),
            };
            attributes.push(("pairs", PyList::new(py, pairs)?.into_py_any(py)?));
            (&c.plan, PyTuple::new(py, [&message])?)
        }
        Error::Verify(e) => {
            let problems = e.problems.iter().map(|p| PyProblem::from(p.clone())).collect::<Vec<_>>();
            attributes.push(("problems", PyList::new(py, problems)?.into_py_any(py)?));
            (&c.verify, PyTuple::new(py, [&message])?)
        }
        Error::Uapi(e) => {
            let line = e.line();
            if line == 0 {
                // Errors not tied to a line (a value given from Python, a connection closed mid-answer)
                // say so instead of naming a line 0.
                if let Some(rest) = message.strip_prefix("UAPI line 0: ") {
                    message = format!("UAPI: {rest}");
                }
            }
            let key: Option<String> = match e {
                UapiError::UnknownKey { key, .. } => Some(key.clone()),
                UapiError::InvalidValue { key, .. } => Some((*key).to_string()),
                _ => None,
            };
            attributes.push(("line", (line != 0).then_some(line).into_py_any(py)?));
            attributes.push(("key", key.into_py_any(py)?));
            attributes.push(("errno", e.errno().into_py_any(py)?));
            (&c.uapi, PyTuple::new(py, [&message])?)
        }
        Error::Io(e) => {
            let errno = |name: &str| -> PyResult<PyObject> { Ok(py.import("errno")?.getattr(name)?.unbind()) };
            let os_args = |name: &str| -> PyResult<Bound<'_, PyTuple>> {
                let strerror = format!("{}: {}", e.op, e.message);
                PyTuple::new(
                    py,
                    [errno(name)?, strerror.into_py_any(py)?, e.path.display().to_string().into_py_any(py)?],
                )
            };
            attributes.push(("op", e.op.into_py_any(py)?));
            match e.kind {
                std::io::ErrorKind::NotFound => (&c.not_found, os_args("ENOENT")?),
                std::io::ErrorKind::PermissionDenied => (&c.permission, os_args("EACCES")?),
                std::io::ErrorKind::AlreadyExists => (&c.exists, os_args("EEXIST")?),
                _ => {
                    attributes.push(("filename", e.path.display().to_string().into_py_any(py)?));
                    (&c.os, PyTuple::new(py, [&message])?)
                }
            }
        }
    };
    let instance = class.bind(py).call1(args)?;
    instance.setattr("code", code)?;
    for (name, value) in attributes {
        instance.setattr(name, value)?;
    }
    Ok(PyErr::from_value(instance))
}

/// Converts a core result into a Python one (the GIL is taken only on error).
pub fn check<T, E: Into<Error>>(result: Result<T, E>) -> PyResult<T> {
    result.map_err(|err| Python::with_gil(|py| to_py_err(py, err.into())))
}
