//! The mesh model: names, endpoints, nodes, settings and rules.
pub mod complete;
pub mod endpoint;
pub mod model;
pub mod name;
pub mod store;

use std::cell::RefCell;

thread_local! {
    /// The typed error of the last field that failed to deserialise on this thread. serde only carries
    /// strings through its errors; the mesh loaders take this back out so a bad name, endpoint or key in
    /// a mesh file keeps its own code instead of becoming a generic syntax error.
    static FIELD_ERROR: RefCell<Option<crate::Error>> = const { RefCell::new(None) };
}

/// Records `err` as the typed cause of the deserialisation error being returned, and converts it.
pub(crate) fn field_error<E: serde::de::Error>(err: impl Into<crate::Error>) -> E {
    let err = err.into();
    let message = err.to_string();
    FIELD_ERROR.with(|slot| *slot.borrow_mut() = Some(err));
    E::custom(message)
}

/// Takes the recorded typed error, if any.
pub(crate) fn take_field_error() -> Option<crate::Error> {
    FIELD_ERROR.with(|slot| slot.borrow_mut().take())
}
