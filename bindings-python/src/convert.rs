//! Conversions between Python values and the JSON values the core's schemas are written in, plus
//! the small argument helpers every module shares.

use std::net::IpAddr;

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use serde_json::{Map, Value};
use wiremesh::ConfigFormat;

use crate::errors::check;
use crate::keys::{PyPresharedKey, PyPrivateKey, PyPublicKey};

/// Whether secret key objects may appear in a value (only in configurations, never in meshes: a
/// private key passed where the mesh schema expects a public key must not be taken for one).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Secrets {
    Refuse,
    Allow,
}

/// A Python value as JSON: `None`, `bool`, `int`, `float`, `str`, mappings with string keys,
/// lists and tuples; `PublicKey` objects become their base64 form, `ipaddress` objects and paths
/// their text. With [`Secrets::Allow`], `PrivateKey` and `PresharedKey` objects become base64 too.
pub fn to_json(value: &Bound<'_, PyAny>, secrets: Secrets) -> PyResult<Value> {
    if value.is_none() {
        return Ok(Value::Null);
    }
    if let Ok(b) = value.downcast::<PyBool>() {
        return Ok(Value::Bool(b.is_true()));
    }
    if value.is_instance_of::<PyInt>() {
        if let Ok(n) = value.extract::<i64>() {
            return Ok(Value::from(n));
        }
        if let Ok(n) = value.extract::<u64>() {
            return Ok(Value::from(n));
        }
        return Err(PyValueError::new_err(format!("integer out of range: {value}")));
    }
    if let Ok(f) = value.downcast::<PyFloat>() {
        return serde_json::Number::from_f64(f.value())
            .map(Value::Number)
            .ok_or_else(|| PyValueError::new_err("NaN and infinity have no JSON form"));
    }
    if let Ok(s) = value.downcast::<PyString>() {
        return Ok(Value::String(s.to_cow()?.into_owned()));
    }
    if let Ok(key) = value.downcast::<PyPublicKey>() {
        return Ok(Value::String(key.get().inner.to_base64()));
    }
    if let Ok(key) = value.downcast::<PyPrivateKey>() {
        return match secrets {
            Secrets::Allow => Ok(Value::String(key.get().inner.to_base64())),
            Secrets::Refuse => Err(PyTypeError::new_err(
                "a PrivateKey is not part of a mesh description; pass it as private_key= to add_node/update_node",
            )),
        };
    }
    if let Ok(key) = value.downcast::<PyPresharedKey>() {
        return match secrets {
            Secrets::Allow => Ok(Value::String(key.get().inner.to_base64())),
            Secrets::Refuse => Err(PyTypeError::new_err("a PresharedKey is not part of a mesh description")),
        };
    }
    if let Ok(dict) = value.downcast::<PyDict>() {
        let mut object = Map::new();
        for (k, v) in dict.iter() {
            let key: String = k
                .extract()
                .map_err(|_| PyTypeError::new_err(format!("dictionary keys must be strings, not {}", k.get_type())))?;
            object.insert(key, to_json(&v, secrets)?);
        }
        return Ok(Value::Object(object));
    }
    if value.is_instance_of::<PyList>() || value.is_instance_of::<PyTuple>() {
        return value.try_iter()?.map(|item| to_json(&item?, secrets)).collect::<PyResult<Vec<_>>>().map(Value::Array);
    }
    let py = value.py();
    let module: String = value.get_type().getattr("__module__")?.extract().unwrap_or_default();
    if module == "ipaddress" {
        return Ok(Value::String(value.str()?.to_cow()?.into_owned()));
    }
    if value.hasattr("__fspath__")? {
        let path = py.import("os")?.getattr("fspath")?.call1((value,))?;
        return Ok(Value::String(path.extract()?));
    }
    if value.downcast::<pyo3::types::PyMapping>().is_ok() {
        let dict = PyDict::new(py);
        dict.call_method1("update", (value,))?;
        return to_json(dict.as_any(), secrets);
    }
    Err(PyTypeError::new_err(format!("cannot convert a {} to a wiremesh value", value.get_type())))
}

/// A JSON value as plain Python objects (`dict`, `list`, `str`, `int`, `float`, `bool`, `None`).
pub fn to_py(py: Python<'_>, value: &Value) -> PyResult<PyObject> {
    Ok(match value {
        Value::Null => py.None(),
        Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any().unbind(),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                i.into_pyobject(py)?.into_any().unbind()
            } else if let Some(u) = n.as_u64() {
                u.into_pyobject(py)?.into_any().unbind()
            } else {
                n.as_f64().unwrap_or(f64::NAN).into_pyobject(py)?.into_any().unbind()
            }
        }
        Value::String(s) => PyString::new(py, s).into_any().unbind(),
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(to_py(py, item)?)?;
            }
            list.into_any().unbind()
        }
        Value::Object(object) => {
            let dict = PyDict::new(py);
            for (k, v) in object {
                dict.set_item(k, to_py(py, v)?)?;
            }
            dict.into_any().unbind()
        }
    })
}

/// Text from a `str`, an `ipaddress` object or anything else whose `str()` is the value wanted.
pub fn text_of(value: &Bound<'_, PyAny>) -> PyResult<String> {
    if let Ok(s) = value.downcast::<PyString>() {
        return Ok(s.to_cow()?.into_owned());
    }
    let module: String = value.get_type().getattr("__module__")?.extract().unwrap_or_default();
    if module == "ipaddress" {
        return Ok(value.str()?.to_cow()?.into_owned());
    }
    Err(PyTypeError::new_err(format!("expected a str or an ipaddress object, not {}", value.get_type())))
}

/// An IP address from text or an `ipaddress` object (an `IpamError` with code `ipam_invalid_address`
/// when it is not one).
pub fn address(value: &Bound<'_, PyAny>) -> PyResult<IpAddr> {
    check(wiremesh::parse_address(&text_of(value)?))
}

/// A path argument: `str` or any `os.PathLike`.
pub fn path(value: &Bound<'_, PyAny>) -> PyResult<std::path::PathBuf> {
    value.extract::<std::path::PathBuf>()
}

/// A format name: `wg-quick` or `setconf` (`ValueError` otherwise).
pub fn format(name: &str) -> PyResult<ConfigFormat> {
    ConfigFormat::parse(name)
        .ok_or_else(|| PyValueError::new_err(format!("unknown format {name:?}: expected 'wg-quick' or 'setconf'")))
}

/// A list of strings from displayable items.
pub fn strings<T: ToString>(items: &[T]) -> Vec<String> {
    items.iter().map(ToString::to_string).collect()
}

/// A list of strings as Python writes one: `['a', 'b']`.
pub fn repr_list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|item| format!("'{item}'")).collect();
    format!("[{}]", quoted.join(", "))
}
