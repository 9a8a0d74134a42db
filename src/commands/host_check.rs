//! `scalpel host-check`: how far this host is from a tuned trading host,
//! item by item, with the command that fixes each (see [`crate::host`]).
//! It reads `/proc` and `/sys` and changes nothing.

use std::io::{self, Write};

use crate::host::{self, HostReport, HostSource, Status};
use crate::latency::report::JsonLine;

/// Options of `scalpel host-check`.
#[derive(Debug, Clone, Default)]
pub struct HostCheckOptions {
    /// The CPU the hot thread would be pinned to (default: the first
    /// isolated CPU, else the last online one).
    pub core: Option<usize>,
    /// One JSON object instead of the text report.
    pub json: bool,
}

/// Runs the check against `src` and prints it.
///
/// # Errors
/// Output errors.
pub fn run(opts: &HostCheckOptions, src: &HostSource, out: &mut impl Write) -> io::Result<HostReport> {
    let report = host::check_host(src, opts.core);
    if opts.json {
        writeln!(out, "{}", json(&report))?;
    } else {
        print(&report, out)?;
    }
    Ok(report)
}

fn print(r: &HostReport, out: &mut impl Write) -> io::Result<()> {
    writeln!(out, "host-check (reads /proc and /sys, changes nothing)")?;
    writeln!(out, "machine: {}", r.machine.summary())?;
    writeln!(
        out,
        "hot core: CPU {} ({})",
        r.core,
        if r.core_given { "--core" } else { "default: the first isolated CPU, else the last online one; --core N" }
    )?;
    for c in &r.checks {
        writeln!(out)?;
        writeln!(out, "[{:<7}] {}", c.status.label(), c.item)?;
        writeln!(out, "  found: {}", c.found)?;
        if !c.want.is_empty() {
            writeln!(out, "  want:  {}", c.want)?;
        }
        if !c.fix.is_empty() {
            writeln!(out, "  fix:   {}", c.fix)?;
        }
    }
    writeln!(out)?;
    writeln!(
        out,
        "summary: {} ok, {} to tune, {} unknown, {} facts",
        r.count(Status::Ok),
        r.count(Status::Tune),
        r.count(Status::Unknown),
        r.count(Status::Info)
    )
}

fn json(r: &HostReport) -> String {
    let checks: Vec<String> = r
        .checks
        .iter()
        .map(|c| {
            let mut o = JsonLine::new();
            o.str("item", c.item).str("status", c.status.label()).str("found", &c.found);
            o.str("want", &c.want).str("fix", &c.fix);
            o.finish()
        })
        .collect();
    let mut line = JsonLine::new();
    line.raw("machine", &r.machine.json()).u64("core", r.core as u64).bool("core_given", r.core_given);
    line.raw("checks", &format!("[{}]", checks.join(",")));
    line.u64("ok", r.count(Status::Ok) as u64).u64("tune", r.count(Status::Tune) as u64);
    line.u64("unknown", r.count(Status::Unknown) as u64);
    line.finish()
}
