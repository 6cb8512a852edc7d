//! A simulated network for tests and demos: named hosts, split into sides.

use super::Peers;
use std::collections::HashMap;
use std::sync::RwLock;

/// Hosts (nodes, store members) that can all reach each other until a
/// partition splits them into sides. A host that no side names stays on the
/// "rest" side with every other unnamed host.
#[derive(Debug, Default)]
pub struct SimNetwork {
    side: RwLock<HashMap<String, u32>>,
}

impl SimNetwork {
    /// A healthy network.
    pub fn new() -> Self {
        Self::default()
    }

    /// Split the network: each slice is one side; hosts in different sides
    /// cannot reach each other. Replaces any earlier partition.
    pub fn partition(&self, sides: &[&[&str]]) {
        let mut m = self.side.write().unwrap_or_else(|p| p.into_inner());
        m.clear();
        for (i, side) in sides.iter().enumerate() {
            for h in side.iter() {
                m.insert((*h).to_string(), i as u32 + 1);
            }
        }
    }

    /// Cut one host off from every other (keeping the rest as they are).
    pub fn isolate(&self, host: &str) {
        let mut m = self.side.write().unwrap_or_else(|p| p.into_inner());
        let fresh = m.values().copied().max().unwrap_or(0) + 1;
        m.insert(host.to_string(), fresh);
    }

    /// Repair every partition.
    pub fn heal(&self) {
        self.side.write().unwrap_or_else(|p| p.into_inner()).clear();
    }

    /// Whether `a` and `b` can talk.
    pub fn connected(&self, a: &str, b: &str) -> bool {
        if a == b {
            return true;
        }
        let m = self.side.read().unwrap_or_else(|p| p.into_inner());
        m.get(a).copied().unwrap_or(0) == m.get(b).copied().unwrap_or(0)
    }
}

impl Peers for SimNetwork {
    fn reachable(&self, from: &str, to: &str) -> bool {
        self.connected(from, to)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_and_heal() {
        let n = SimNetwork::new();
        assert!(n.connected("a", "b"));
        n.partition(&[&["a", "b"], &["c"]]);
        assert!(n.connected("a", "b"));
        assert!(!n.connected("a", "c"));
        assert!(!n.connected("a", "d"), "unnamed hosts are on the rest side");
        assert!(n.connected("d", "e"));
        n.isolate("b");
        assert!(!n.connected("a", "b"));
        n.heal();
        assert!(n.connected("a", "c") && n.connected("b", "d"));
    }
}
