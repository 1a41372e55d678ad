//! The mesh model: names, endpoints, nodes, settings and rules.
pub mod complete;
pub mod endpoint;
pub mod model;
pub mod name;
pub mod store;
