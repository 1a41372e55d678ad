//! The topology of a [`Plan`] as a Graphviz DOT graph: one box per node (relays as double octagons),
//! solid edges for direct peerings, dashed edges labelled with the relay for relayed pairs.

use std::fmt::Write as _;

use crate::plan::{Plan, Reach};

/// Renders `plan` as an undirected DOT graph (`dot -Tsvg` draws it).
pub fn render_dot(plan: &Plan) -> String {
    let mut out = String::new();
    // Names are restricted to [A-Za-z0-9_.-], endpoints and addresses to their own charsets, so
    // nothing here needs escaping beyond the quotes around each identifier.
    let _ = writeln!(out, "graph \"{}\" {{", plan.mesh_name);
    out.push_str("  graph [overlap=false, splines=true];\n  node [shape=box, fontname=\"monospace\"];\n");
    for node in &plan.nodes {
        let mut label = node.name.to_string();
        for address in &node.addresses {
            let _ = write!(label, "\\n{}", address.addr());
        }
        for subnet in &node.subnets {
            let _ = write!(label, "\\n{subnet}");
        }
        match &node.endpoint {
            Some(endpoint) => {
                let _ = write!(label, "\\n@ {endpoint}");
            }
            None => label.push_str("\\n(behind NAT)"),
        }
        let shape = if node.relay { ", shape=doubleoctagon" } else { "" };
        let _ = writeln!(out, "  \"{}\" [label=\"{label}\"{shape}];", node.name);
    }
    for (i, node) in plan.nodes.iter().enumerate() {
        for route in &node.routes {
            let Some(j) = plan.nodes.iter().position(|n| n.name == route.node) else { continue };
            if j <= i {
                continue;
            }
            match &route.reach {
                Reach::Direct => {
                    let _ = writeln!(out, "  \"{}\" -- \"{}\";", node.name, route.node);
                }
                Reach::Via(relay) => {
                    let _ = writeln!(
                        out,
                        "  \"{}\" -- \"{}\" [style=dashed, color=gray40, label=\"via {relay}\"];",
                        node.name, route.node
                    );
                }
                Reach::Blocked => {}
            }
        }
    }
    out.push_str("}\n");
    out
}
