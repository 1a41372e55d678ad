//! Filling in what a mesh leaves out: keys for nodes without one, addresses for nodes without one in
//! each network, and the preshared-key seed. All in memory; [`Mesh::save`] persists the secrets.

use std::net::IpAddr;

use crate::error::MeshError;
use crate::ipam::{Pool, Reservation};
use crate::keys::{PresharedKey, PrivateKey};
use crate::mesh::model::{AllocationStrategy, Mesh};
use crate::mesh::name::Name;

/// What [`Mesh::generate_missing`] filled in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Generated {
    /// Nodes that got a new private key.
    pub keys: Vec<Name>,
    /// Addresses allocated, per node.
    pub addresses: Vec<(Name, IpAddr)>,
    /// Whether the preshared-key seed was created.
    pub preshared_key_seed: bool,
}

impl Generated {
    /// Nothing was generated.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty() && self.addresses.is_empty() && !self.preshared_key_seed
    }
}

impl Mesh {
    /// The address pool of one mesh network with the declared reservations and every node's existing
    /// address in it marked taken.
    pub fn pool(&self, network_index: usize) -> Result<Pool, crate::Error> {
        let network = *self.mesh.networks.get(network_index).ok_or_else(|| MeshError::InvalidValue {
            field: "mesh.networks".into(),
            reason: format!("no network number {network_index}"),
        })?;
        let mut pool = Pool::new(network)?;
        for text in &self.mesh.reserved {
            let reservation = Reservation::parse(text)?;
            let (first, last) = (reservation.first(), reservation.last());
            let overlaps = first.is_ipv4() == network.addr().is_ipv4()
                && first <= network.broadcast()
                && last >= network.network();
            if overlaps {
                pool.reserve(reservation)?;
            }
        }
        for node in &self.nodes {
            for address in node.addresses.iter().filter(|a| network.contains(*a)) {
                pool.assign(*address)?;
            }
        }
        Ok(pool)
    }

    /// Generates what is missing: a private key for every node with neither key, an address in every
    /// network for every node lacking one (lowest free, or derived from the node's public key, as
    /// `mesh.allocation` says), and the preshared-key seed when preshared keys are on. Existing values are
    /// never changed. On error the mesh is unchanged.
    pub fn generate_missing(&mut self) -> Result<Generated, crate::Error> {
        self.validate()?;
        let mut next = self.clone();
        let mut generated = Generated::default();
        if next.mesh.preshared_keys && next.preshared_key_seed.is_none() {
            next.preshared_key_seed = Some(PresharedKey::generate());
            generated.preshared_key_seed = true;
        }
        for node in &mut next.nodes {
            if node.effective_public_key().is_none() && node.private_key_on_node.is_none() {
                let key = PrivateKey::generate();
                node.public_key = Some(key.public_key());
                node.private_key = Some(key);
                generated.keys.push(node.name.clone());
            }
        }
        for (index, network) in self.mesh.networks.iter().enumerate() {
            let lacking: Vec<usize> = (0..next.nodes.len())
                .filter(|&i| !next.nodes[i].addresses.iter().any(|a| network.contains(a)))
                .collect();
            if lacking.is_empty() {
                continue;
            }
            let mut pool = next.pool(index)?;
            let addresses: Vec<IpAddr> = match next.mesh.allocation {
                AllocationStrategy::Sequential => {
                    lacking.iter().map(|_| pool.allocate_sequential()).collect::<Result<_, _>>()?
                }
                AllocationStrategy::KeyDerived => {
                    let keys: Vec<_> = lacking
                        .iter()
                        .map(|&i| {
                            next.nodes[i].effective_public_key().ok_or_else(|| MeshError::MissingKey {
                                node: next.nodes[i].name.to_string(),
                                what: "public key (needed for key-derived addresses)",
                            })
                        })
                        .collect::<Result<_, _>>()?;
                    pool.allocate_batch_for_keys(&keys)?
                }
            };
            for (&i, address) in lacking.iter().zip(addresses) {
                let node = &mut next.nodes[i];
                // Keep one address per network in the networks' order.
                let position = node
                    .addresses
                    .iter()
                    .position(|a| {
                        self.mesh.networks.iter().position(|n| n.contains(a)).is_some_and(|other| other > index)
                    })
                    .unwrap_or(node.addresses.len());
                node.addresses.insert(position, address);
                generated.addresses.push((node.name.clone(), address));
            }
        }
        next.validate()?;
        *self = next;
        Ok(generated)
    }
}
