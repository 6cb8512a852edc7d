//! The codes and names the JS and Python layers share with the core, written
//! from `fusebox::bindings` into `bindings/node/codes.js` and
//! `bindings/python/python/fusebox/_codes.py`. Fails when a committed file
//! is not what this generates; `FUSEBOX_BLESS=1 cargo test -p fusebox --test
//! generated_codes` rewrites them.
#![cfg(not(loom))]

use fusebox::bindings::{self as b, ConfigField};
use std::path::{Path, PathBuf};

/// `half_open_full` → `halfOpenFull` (Node's names).
fn camel(snake: &str) -> String {
    let mut out = String::new();
    let mut up = false;
    for c in snake.chars() {
        if c == '_' {
            up = true;
        } else if up {
            out.extend(c.to_uppercase());
            up = false;
        } else {
            out.push(c);
        }
    }
    out
}

fn phases() -> Vec<&'static str> {
    b::PHASES.iter().map(|p| p.as_str()).collect()
}
fn states() -> Vec<&'static str> {
    b::STATES.iter().map(|s| s.as_str()).collect()
}
fn state_of_phase() -> Vec<&'static str> {
    b::PHASES.iter().map(|p| p.state().as_str()).collect()
}
fn reasons() -> Vec<&'static str> {
    b::REJECT_REASONS.iter().map(|r| r.as_str()).collect()
}
fn cancellations() -> Vec<&'static str> {
    b::CANCELLATIONS.iter().map(|c| c.as_str()).collect()
}
fn outcomes() -> Vec<&'static str> {
    b::OUTCOMES.iter().map(|&o| b::outcome_name(o)).collect()
}

const WARNING: &str =
    "Generated from the core's `fusebox::bindings` by core/tests/generated_codes.rs:\n\
    do not edit. `FUSEBOX_BLESS=1 cargo test -p fusebox --test generated_codes` rewrites it.";

fn js_list(names: &[&str], f: impl Fn(&str) -> String) -> String {
    let items: Vec<String> = names.iter().map(|n| format!("'{}'", f(n))).collect();
    format!("Object.freeze([{}])", items.join(", "))
}

fn node() -> String {
    let mut s = String::from("'use strict'\n");
    for line in WARNING.lines() {
        s += &format!("// {line}\n");
    }
    s += "// Codes and names the JS layer shares with the core (see docs/architecture.md#bindings).\n\n";
    s += "module.exports = Object.freeze({\n";
    s += "  // Outcome codes of the hot `record` (mailbox slot 3); RELEASE: no outcome, give the permit back;\n";
    s += "  // CANCEL: the call was cancelled (as the `cancellation` option says).\n";
    for &o in &b::OUTCOMES {
        s += &format!(
            "  {}: {},\n",
            b::outcome_name(o).to_uppercase(),
            b::outcome_code(o)
        );
    }
    s += &format!("  RELEASE: {},\n", b::RELEASE);
    s += &format!("  CANCEL: {},\n", b::CANCEL);
    s += &format!("  OUTCOMES: {},\n", js_list(&outcomes(), |n| n.into()));
    s += "  // By code: a rejection's reason, a phase (the state word's phase bits), a state.\n";
    s += &format!("  REJECT_REASONS: {},\n", js_list(&reasons(), camel));
    s += &format!("  PHASES: {},\n", js_list(&phases(), camel));
    s += &format!("  STATES: {},\n", js_list(&states(), camel));
    s += "  // The state of each phase, by phase code.\n";
    s += &format!("  STATE_OF_PHASE: {},\n", js_list(&state_of_phase(), camel));
    s += "  // The `cancellation` option's values, by code.\n";
    s += &format!("  CANCELLATIONS: {},\n", js_list(&cancellations(), camel));
    s += "  // The core's config fields (as its errors name them) and the options that set them.\n";
    s += "  CONFIG_FIELDS: Object.freeze({\n";
    let fields: Vec<String> = b::CONFIG_FIELDS
        .iter()
        .map(|f: &ConfigField| format!("    '{}': '{}'", f.field, f.node))
        .collect();
    s += &fields.join(",\n");
    s += "\n  })\n})\n";
    s
}

fn py_tuple(names: &[&str]) -> String {
    let items: Vec<String> = names.iter().map(|n| format!("\"{n}\"")).collect();
    format!("({})", items.join(", "))
}

fn py_literal(names: &[&str]) -> String {
    let items: Vec<String> = names.iter().map(|n| format!("\"{n}\"")).collect();
    format!("Literal[{}]", items.join(", "))
}

fn python() -> String {
    let mut s = String::from("\"\"\"Codes and names the Python layer shares with the core.\n\n");
    s += WARNING;
    s += "\n\"\"\"\n\nfrom __future__ import annotations\n\nfrom typing import Final, Literal\n\n";
    s += &format!("StateName = {}\n", py_literal(&states()));
    s += &format!("PhaseName = {}\n", py_literal(&phases()));
    s += &format!("RejectReason = {}\n", py_literal(&reasons()));
    s += &format!("OutcomeName = {}\n", py_literal(&outcomes()));
    s += &format!("CancellationName = {}\n\n", py_literal(&cancellations()));
    s += "# By code: a state, a phase, a rejection's reason, an outcome.\n";
    s += &format!("STATES: Final = {}\n", py_tuple(&states()));
    s += &format!("PHASES: Final = {}\n", py_tuple(&phases()));
    s += &format!("REJECT_REASONS: Final = {}\n", py_tuple(&reasons()));
    s += &format!("OUTCOMES: Final = {}\n", py_tuple(&outcomes()));
    s += &format!("CANCELLATIONS: Final = {}\n\n", py_tuple(&cancellations()));
    for r in reasons() {
        s += &format!("REJECT_{}: Final = \"{r}\"\n", r.to_uppercase());
    }
    s += "\n# The core's config fields (as its errors name them) and the keyword\n# arguments that set them.\n";
    s += "CONFIG_FIELDS: Final = {\n";
    for f in &b::CONFIG_FIELDS {
        s += &format!("    \"{}\": \"{}\",\n", f.field, f.python);
    }
    s += "}\n";
    s
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn check(path: &str, want: String) {
    let path = repo().join(path);
    if std::env::var_os("FUSEBOX_BLESS").is_some() {
        std::fs::write(&path, want).unwrap();
        return;
    }
    let got = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        got == want,
        "{} is stale: rerun with FUSEBOX_BLESS=1 cargo test -p fusebox --test generated_codes",
        path.display()
    );
}

// Out of the repository (the crate as published) there is nothing to compare.
fn in_repo() -> bool {
    repo().join("bindings").is_dir()
}

#[test]
fn node_codes_are_fresh() {
    if in_repo() {
        check("bindings/node/codes.js", node());
    }
}

#[test]
fn python_codes_are_fresh() {
    if in_repo() {
        check("bindings/python/python/fusebox/_codes.py", python());
    }
}

#[test]
fn node_names_are_the_core_names_in_camel_case() {
    assert_eq!(camel("half_open_full"), "halfOpenFull");
    assert_eq!(camel("closed"), "closed");
    // The names codes.js lists are the ones the core reads back.
    let node: Vec<String> = cancellations().iter().map(|n| camel(n)).collect();
    assert_eq!(node, b::CANCELLATION_NODE_NAMES);
}
