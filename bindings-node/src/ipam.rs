//! Address pools: `Pool` and `parseReservation`.

use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::error::IntoJs;
use crate::keys::{public_key_arg, PublicKeyArg};

/// The addresses of one network that can be handed to nodes: sequentially (lowest free first) or
/// derived from a node's public key (stable whatever order nodes are added in). The network and
/// broadcast addresses (IPv4) and reserved addresses are never handed out.
///
/// Addresses are strings (`"10.88.0.7"`); every failure throws an `ipam_*` code (a string that is not
/// an address or CIDR block at all throws `ipam_invalid_address`, as the core's `parse_address` and
/// `parse_network` do).
#[napi]
pub struct Pool {
    pub(crate) inner: wiremesh::Pool,
}

/// A reservation as parsed: its canonical text and the first and last address it covers.
#[napi(object)]
pub struct ReservationInfo {
    /// Canonical spelling: `10.88.0.1`, `10.88.0.0/28` or `10.88.0.1-10.88.0.9`.
    pub text: String,
    /// The lowest reserved address.
    pub first: String,
    /// The highest reserved address.
    pub last: String,
}

/// Parses a reservation: `ADDR`, `ADDR/PREFIX` or `FIRST-LAST`. Throws `ipam_invalid_reservation`.
#[napi]
pub fn parse_reservation(env: Env, text: String) -> Result<ReservationInfo> {
    let reservation = wiremesh::Reservation::parse(&text).js(&env)?;
    Ok(ReservationInfo {
        text: reservation.to_string(),
        first: reservation.first().to_string(),
        last: reservation.last().to_string(),
    })
}

#[napi]
impl Pool {
    /// A pool over `network` (CIDR text, e.g. `"10.88.0.0/24"`; host bits are ignored). Throws
    /// `ipam_invalid_address` for text that is not a CIDR block, `ipam_invalid_network` when it leaves
    /// fewer than 2 addresses.
    #[napi(constructor)]
    pub fn new(env: Env, network: String) -> Result<Self> {
        let network = wiremesh::parse_network(&network).js(&env)?;
        wiremesh::Pool::new(network).map(|inner| Pool { inner }).js(&env)
    }

    /// The pool's network.
    #[napi(getter)]
    pub fn network(&self) -> String {
        self.inner.network().to_string()
    }

    /// How many addresses the pool can hand out in total.
    #[napi(getter)]
    pub fn capacity(&self) -> BigInt {
        BigInt::from(self.inner.capacity())
    }

    /// How many addresses are allocated.
    #[napi(getter)]
    pub fn allocated_count(&self) -> u32 {
        self.inner.len_allocated() as u32
    }

    /// Every allocated address, in ascending order.
    #[napi]
    pub fn allocated(&self) -> Vec<String> {
        self.inner.allocated().map(|a| a.to_string()).collect()
    }

    /// The reservations, in the order they were made (canonical text).
    #[napi(getter)]
    pub fn reservations(&self) -> Vec<String> {
        self.inner.reservations().iter().map(ToString::to_string).collect()
    }

    /// Whether `address` lies inside the pool's network.
    #[napi]
    pub fn contains(&self, env: Env, address: String) -> Result<bool> {
        Ok(self.inner.contains(wiremesh::parse_address(&address).js(&env)?))
    }

    /// Whether `address` is allocated.
    #[napi]
    pub fn is_allocated(&self, env: Env, address: String) -> Result<bool> {
        Ok(self.inner.is_allocated(wiremesh::parse_address(&address).js(&env)?))
    }

    /// Whether `address` is reserved (network/broadcast or a declared reservation).
    #[napi]
    pub fn is_reserved(&self, env: Env, address: String) -> Result<bool> {
        Ok(self.inner.is_reserved(wiremesh::parse_address(&address).js(&env)?))
    }

    /// Reserves an address, CIDR block or range (`a-b`) so it is never handed out. Throws
    /// `ipam_invalid_reservation`, `ipam_outside_network` or `ipam_family_mismatch`.
    #[napi]
    pub fn reserve(&mut self, env: Env, reservation: String) -> Result<()> {
        let reservation = wiremesh::Reservation::parse(&reservation).js(&env)?;
        self.inner.reserve(reservation).js(&env)
    }

    /// Marks a specific (static) address allocated. Throws `ipam_invalid_address`,
    /// `ipam_outside_network`, `ipam_reserved`, `ipam_taken` or `ipam_family_mismatch`.
    #[napi]
    pub fn assign(&mut self, env: Env, address: String) -> Result<()> {
        let address = wiremesh::parse_address(&address).js(&env)?;
        self.inner.assign(address).js(&env)
    }

    /// Allocates the lowest free address. Throws `ipam_exhausted`.
    #[napi]
    pub fn allocate(&mut self, env: Env) -> Result<String> {
        self.inner.allocate_sequential().map(|a| a.to_string()).js(&env)
    }

    /// Allocates the address derived from `key` (a `PublicKey` or its base64 text), probing onwards
    /// when it is taken. Throws `ipam_exhausted` or a `key_*` code for bad text.
    #[napi(ts_args_type = "key: PublicKey | string")]
    pub fn allocate_for_key(&mut self, env: Env, key: PublicKeyArg<'_>) -> Result<String> {
        let key = public_key_arg(&key).js(&env)?;
        self.inner.allocate_for_key(&key).map(|a| a.to_string()).js(&env)
    }

    /// Allocates derived addresses for many keys at once, independent of their order (all or none).
    #[napi(ts_args_type = "keys: Array<PublicKey | string>")]
    pub fn allocate_for_keys(&mut self, env: Env, keys: Vec<PublicKeyArg<'_>>) -> Result<Vec<String>> {
        let keys = keys.iter().map(public_key_arg).collect::<std::result::Result<Vec<_>, _>>().js(&env)?;
        self.inner.allocate_batch_for_keys(&keys).map(|v| v.iter().map(ToString::to_string).collect()).js(&env)
    }

    /// Frees an allocated address. Throws `ipam_invalid_address` or `ipam_not_allocated`.
    #[napi]
    pub fn release(&mut self, env: Env, address: String) -> Result<()> {
        let address = wiremesh::parse_address(&address).js(&env)?;
        self.inner.release(address).js(&env)
    }

    /// `Pool(10.88.0.0/24, 3 allocated)`.
    #[napi(js_name = "toString")]
    pub fn to_display(&self) -> String {
        format!("Pool({}, {} allocated)", self.inner.network(), self.inner.len_allocated())
    }
}
