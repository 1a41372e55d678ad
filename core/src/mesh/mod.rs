//! The mesh model.
pub mod endpoint;
pub mod name;
