//! `Pool`: address allocation in one IPv4 or IPv6 network. Addresses are returned as `str` and
//! accepted as `str` or `ipaddress` objects.

use pyo3::prelude::*;
use wiremesh::{Pool, Reservation};

use crate::convert;
use crate::errors::check;
use crate::keys::public_key_arg;

/// Addresses handed out from one network: the lowest free one (`allocate`) or one derived from a node's
/// public key (`allocate_for_key`). Raises IpamError (codes ipam_*).
#[pyclass(module = "wiremesh", name = "Pool")]
pub struct PyPool {
    pub inner: Pool,
}

#[pymethods]
impl PyPool {
    /// A pool over `network` (`"10.88.0.0/24"` or an `ipaddress` network); host bits are dropped.
    #[new]
    fn new(network: &Bound<'_, PyAny>) -> PyResult<Self> {
        let net = check(wiremesh::parse_network(&convert::text_of(network)?))?;
        Ok(PyPool { inner: check(Pool::new(net))? })
    }

    /// The network, e.g. `"10.88.0.0/24"`.
    #[getter]
    fn network(&self) -> String {
        self.inner.network().to_string()
    }

    /// How many addresses can be handed out (network and IPv4 broadcast excluded).
    #[getter]
    fn capacity(&self) -> u128 {
        self.inner.capacity()
    }

    /// The declared reservations, as text.
    #[getter]
    fn reservations(&self) -> Vec<String> {
        convert::strings(self.inner.reservations())
    }

    /// Declares addresses never to hand out: `"10.88.0.1"`, `"10.88.0.0/28"` or `"10.88.0.1-10.88.0.9"`.
    fn reserve(&mut self, reservation: &str) -> PyResult<()> {
        let reservation = check(Reservation::parse(reservation))?;
        check(self.inner.reserve(reservation))
    }

    /// Takes a chosen address (e.g. one pinned in the mesh).
    fn assign(&mut self, address: &Bound<'_, PyAny>) -> PyResult<()> {
        let address = convert::address(address)?;
        check(self.inner.assign(address))
    }

    /// Allocates the lowest free address.
    fn allocate(&mut self) -> PyResult<String> {
        Ok(check(self.inner.allocate_sequential())?.to_string())
    }

    /// Allocates an address derived from `key` (a PublicKey or its base64 text).
    fn allocate_for_key(&mut self, key: &Bound<'_, PyAny>) -> PyResult<String> {
        let key = public_key_arg(key)?;
        Ok(check(self.inner.allocate_for_key(&key))?.to_string())
    }

    /// Allocates one key-derived address per key, independent of the keys' order; all or nothing.
    fn allocate_for_keys(&mut self, keys: Vec<Bound<'_, PyAny>>) -> PyResult<Vec<String>> {
        let keys = keys.iter().map(public_key_arg).collect::<PyResult<Vec<_>>>()?;
        Ok(convert::strings(&check(self.inner.allocate_batch_for_keys(&keys))?))
    }

    /// Returns an allocated address to the pool.
    fn release(&mut self, address: &Bound<'_, PyAny>) -> PyResult<()> {
        let address = convert::address(address)?;
        check(self.inner.release(address))
    }

    /// Whether `address` is allocated.
    fn is_allocated(&self, address: &Bound<'_, PyAny>) -> PyResult<bool> {
        Ok(self.inner.is_allocated(convert::address(address)?))
    }

    /// Whether `address` may never be handed out (network, broadcast or declared reservation).
    fn is_reserved(&self, address: &Bound<'_, PyAny>) -> PyResult<bool> {
        Ok(self.inner.is_reserved(convert::address(address)?))
    }

    /// Every allocated address, ascending.
    fn allocated(&self) -> Vec<String> {
        self.inner.allocated().map(|a| a.to_string()).collect()
    }

    /// Whether `address` lies inside the network.
    fn __contains__(&self, address: &Bound<'_, PyAny>) -> PyResult<bool> {
        Ok(self.inner.contains(convert::address(address)?))
    }

    /// How many addresses are allocated.
    fn __len__(&self) -> usize {
        self.inner.len_allocated()
    }

    fn __repr__(&self) -> String {
        format!("Pool('{}', allocated={})", self.inner.network(), self.inner.len_allocated())
    }
}
