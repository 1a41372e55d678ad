//! [`super::Liveness`] from the ICMP [`Prober`]: started lazily (the interface it binds to may not exist
//! yet) and afresh after the device restarts.

use std::net::IpAddr;

use super::{Liveness, Observation};
use crate::probe::{ProbeOptions, Prober};

/// Relay liveness from ICMP echo through the tunnel.
pub struct ProberLiveness {
    options: ProbeOptions,
    prober: Option<Prober>,
    targets: Vec<IpAddr>,
}

impl ProberLiveness {
    /// A prober with these options, started on first use.
    pub fn new(options: ProbeOptions) -> Self {
        ProberLiveness { options, prober: None, targets: Vec::new() }
    }

    fn prober(&mut self) -> Option<&Prober> {
        if self.prober.is_none() && !self.targets.is_empty() {
            if let Ok(prober) = Prober::start(self.options.clone()) {
                prober.set_targets(&self.targets);
                self.prober = Some(prober);
            }
        }
        self.prober.as_ref()
    }
}

impl Liveness for ProberLiveness {
    fn set_targets(&mut self, targets: &[IpAddr]) {
        self.targets = targets.to_vec();
        if let Some(prober) = &self.prober {
            prober.set_targets(targets);
        }
    }

    fn observe(&mut self, target: IpAddr) -> Option<Observation> {
        let stats = self.prober()?.stats(target)?;
        if stats.sent == 0 && stats.consecutive_lost == 0 {
            return None;
        }
        Some(Observation { consecutive_lost: stats.consecutive_lost, ever_answered: stats.last_reply_age.is_some() })
    }

    fn reset(&mut self) {
        if let Some(prober) = self.prober.take() {
            prober.stop();
        }
    }
}
