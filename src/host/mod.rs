//! How far this host is from a tuned trading host: `scalpel host-check`,
//! and the machine line in the latency harness's header.
//!
//! Everything is read from `/proc` and `/sys` (under a root directory, so
//! tests feed fake trees) plus `ethtool -c` for the NIC's interrupt
//! coalescing; nothing is changed. Each [`Check`] says what was found, what
//! a co-located trading host should have, and the command that fixes it.
//! What cannot be known from inside (a VM's host C-states and frequency,
//! a NIC that does not report coalescing) is [`Status::Unknown`], never
//! guessed.
//!
//! Sources for what "tuned" means: the kernel's admin guide
//! (`Documentation/admin-guide/kernel-parameters.txt` for `isolcpus`,
//! `nohz_full`, `rcu_nocbs`; `Documentation/timers/no_hz.rst`;
//! `Documentation/admin-guide/mm/transhuge.rst`;
//! `Documentation/networking/napi.rst` for busy polling), Red Hat's
//! "Low latency performance tuning" guide, and `quanta`'s clock selection
//! (`quanta/src/detection.rs`: the TSC is used only when CPUID reports an
//! invariant TSC and `rdtscp`).

use std::path::{Path, PathBuf};

/// Where host facts come from: a filesystem root (`/` live) and a way to
/// run `ethtool -c IFACE`.
pub struct HostSource {
    root: PathBuf,
    ethtool: Box<EthtoolCoalesce>,
}

/// Runs `ethtool -c IFACE`: its output, or why there is none.
pub type EthtoolCoalesce = dyn Fn(&str) -> Result<String, String>;

impl HostSource {
    /// This machine: `/`, and `ethtool` from `PATH` if installed.
    #[must_use]
    pub fn live() -> Self {
        Self::at(PathBuf::from("/"), run_ethtool)
    }

    /// A tree rooted at `root` (tests), with an `ethtool -c` stand-in
    /// returning its output or why it has none.
    pub fn at(root: PathBuf, ethtool: impl Fn(&str) -> Result<String, String> + 'static) -> Self {
        Self { root, ethtool: Box::new(ethtool) }
    }

    /// The trimmed contents of `rel` under the root, if readable.
    #[must_use]
    pub fn read(&self, rel: &str) -> Option<String> {
        std::fs::read_to_string(self.root.join(rel.trim_start_matches('/'))).ok().map(|s| s.trim().to_owned())
    }

    /// The contents of `rel` under the root, un-gzipped.
    fn read_gz(&self, rel: &str) -> Option<String> {
        use std::io::Read;
        let raw = std::fs::read(self.root.join(rel.trim_start_matches('/'))).ok()?;
        let mut text = String::new();
        flate2::read::GzDecoder::new(&raw[..]).read_to_string(&mut text).ok()?;
        Some(text)
    }

    fn list_dir(&self, rel: &str) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.root.join(rel.trim_start_matches('/')))
            .map(|d| d.filter_map(|e| e.ok()?.file_name().into_string().ok()).collect())
            .unwrap_or_default();
        names.sort_by_key(|n| natural_key(n));
        names
    }
}

/// Sorts `state10` after `state9` and `31` after `4`.
fn natural_key(name: &str) -> (String, u64) {
    let split = name.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    (name[..split].to_owned(), name[split..].parse().unwrap_or(0))
}

fn run_ethtool(iface: &str) -> Result<String, String> {
    match std::process::Command::new("ethtool").arg("-c").arg(iface).output() {
        Ok(out) if out.status.success() => Ok(String::from_utf8_lossy(&out.stdout).into_owned()),
        Ok(out) => Err(format!("ethtool -c {iface}: {}", String::from_utf8_lossy(&out.stderr).trim())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err("ethtool is not installed".to_owned()),
        Err(e) => Err(format!("ethtool: {e}")),
    }
}

/// Parses a kernel CPU list (`0-3,5,8-9`); `None` if malformed. Flags such
/// as `isolcpus`' `managed_irq,domain,` are skipped.
#[must_use]
pub fn parse_cpu_list(text: &str) -> Option<Vec<usize>> {
    let mut cpus = Vec::new();
    for part in text.trim().split(',').filter(|p| !p.is_empty()) {
        if part.chars().all(|c| c.is_ascii_alphabetic() || c == '_') {
            continue;
        }
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (usize, usize) = (a.parse().ok()?, b.parse().ok()?);
                if b < a || b - a > 65_536 {
                    return None;
                }
                cpus.extend(a..=b);
            }
            None => cpus.push(part.parse().ok()?),
        }
    }
    cpus.sort_unstable();
    cpus.dedup();
    Some(cpus)
}

/// Formats CPUs as a kernel CPU list (`0-3,5`).
#[must_use]
pub fn format_cpu_list(cpus: &[usize]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < cpus.len() {
        let mut j = i;
        while j + 1 < cpus.len() && cpus[j + 1] == cpus[j] + 1 {
            j += 1;
        }
        parts.push(if j > i { format!("{}-{}", cpus[i], cpus[j]) } else { cpus[i].to_string() });
        i = j + 1;
    }
    if parts.is_empty() { "none".to_owned() } else { parts.join(",") }
}

/// The value of `key=` on the kernel command line, if present.
fn cmdline_value<'a>(cmdline: &'a str, key: &str) -> Option<&'a str> {
    cmdline.split_whitespace().find_map(|t| t.strip_prefix(key)?.strip_prefix('='))
}

/// What the latency harness prints about the machine in its header.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Machine {
    /// `model name` of the first processor.
    pub cpu_model: String,
    /// `cpu family` and `model`, if given.
    pub family_model: Option<(u32, u32)>,
    /// Online logical CPUs.
    pub online: Vec<usize>,
    /// Isolated CPUs (`/sys/devices/system/cpu/isolated`).
    pub isolated: Vec<usize>,
    /// `nohz_full` CPUs (sysfs, else the kernel command line).
    pub nohz_full: Vec<usize>,
    /// Frequency governor of the CPU asked about, `None` without cpufreq.
    pub governor: Option<String>,
    /// `Some("KVM")`, `Some("unknown hypervisor")`, or `None` on bare metal.
    pub hypervisor: Option<String>,
    /// Current clocksource.
    pub clocksource: Option<String>,
    /// CPUID invariant TSC (`constant_tsc` and `nonstop_tsc`) and `rdtscp`:
    /// what `quanta` needs to read the TSC.
    pub tsc_for_quanta: bool,
}

impl Machine {
    /// Reads the machine; `cpu` is the CPU whose governor is reported
    /// (the measured thread's, or the first online one).
    #[must_use]
    pub fn read(src: &HostSource, cpu: Option<usize>) -> Self {
        let cpuinfo = src.read("proc/cpuinfo").unwrap_or_default();
        let first = cpuinfo.split("\n\n").next().unwrap_or_default();
        let field = |name: &str| {
            first.lines().find_map(|l| {
                let (k, v) = l.split_once(':')?;
                (k.trim() == name).then(|| v.trim().to_owned())
            })
        };
        let flags: Vec<String> = field("flags").unwrap_or_default().split_whitespace().map(str::to_owned).collect();
        let has = |f: &str| flags.iter().any(|x| x == f);
        let online = src.read("sys/devices/system/cpu/online").and_then(|t| parse_cpu_list(&t)).unwrap_or_default();
        let cmdline = src.read("proc/cmdline").unwrap_or_default();
        let nohz_full = src
            .read("sys/devices/system/cpu/nohz_full")
            .and_then(|t| parse_cpu_list(&t))
            .or_else(|| cmdline_value(&cmdline, "nohz_full").and_then(parse_cpu_list))
            .unwrap_or_default();
        let cpu = cpu.or_else(|| online.first().copied()).unwrap_or(0);
        let clocksources =
            src.read("sys/devices/system/clocksource/clocksource0/available_clocksource").unwrap_or_default();
        let hypervisor = has("hypervisor").then(|| {
            if clocksources.split_whitespace().any(|c| c == "kvm-clock") {
                "KVM".to_owned()
            } else if clocksources.split_whitespace().any(|c| c == "hyperv_clocksource_tsc_page") {
                "Hyper-V".to_owned()
            } else if src.read("sys/hypervisor/type").is_some_and(|t| t == "xen") {
                "Xen".to_owned()
            } else {
                "unknown hypervisor".to_owned()
            }
        });
        Self {
            cpu_model: field("model name").unwrap_or_else(|| "unknown CPU".to_owned()),
            family_model: field("cpu family")
                .and_then(|f| f.parse().ok())
                .zip(field("model").and_then(|m| m.parse().ok())),
            online,
            isolated: src.read("sys/devices/system/cpu/isolated").and_then(|t| parse_cpu_list(&t)).unwrap_or_default(),
            nohz_full,
            governor: src.read(&format!("sys/devices/system/cpu/cpu{cpu}/cpufreq/scaling_governor")),
            hypervisor,
            clocksource: src.read("sys/devices/system/clocksource/clocksource0/current_clocksource"),
            tsc_for_quanta: has("constant_tsc") && has("nonstop_tsc") && has("rdtscp"),
        }
    }

    /// One line for a report header.
    #[must_use]
    pub fn summary(&self) -> String {
        let fm = self.family_model.map_or_else(String::new, |(f, m)| format!(" (family {f} model {m})"));
        format!(
            "{}{fm}, {} logical CPUs online, {}, governor {}, isolated {}, nohz_full {}, clocksource {}, clock {}",
            self.cpu_model,
            self.online.len(),
            self.hypervisor.as_deref().map_or_else(|| "bare metal".to_owned(), |h| format!("{h} guest")),
            self.governor.as_deref().unwrap_or("n/a (no cpufreq)"),
            format_cpu_list(&self.isolated),
            format_cpu_list(&self.nohz_full),
            self.clocksource.as_deref().unwrap_or("unknown"),
            if self.tsc_for_quanta { "TSC (invariant, via quanta)" } else { "clock_gettime (no invariant TSC)" },
        )
    }

    /// The machine as a JSON object.
    #[must_use]
    pub fn json(&self) -> String {
        let json_string = |t: &str| serde_json::to_string(t).unwrap_or_else(|_| "\"\"".to_owned());
        format!(
            "{{\"cpu\":{},\"family\":{},\"model\":{},\"cpus_online\":{},\"virtualized\":{},\"governor\":{},\"isolated\":{},\"nohz_full\":{},\"clocksource\":{},\"tsc\":{}}}",
            json_string(&self.cpu_model),
            self.family_model.map_or_else(|| "null".to_owned(), |(f, _)| f.to_string()),
            self.family_model.map_or_else(|| "null".to_owned(), |(_, m)| m.to_string()),
            self.online.len(),
            self.hypervisor.as_deref().map_or_else(|| "null".to_owned(), &json_string),
            self.governor.as_deref().map_or_else(|| "null".to_owned(), &json_string),
            json_string(&format_cpu_list(&self.isolated)),
            json_string(&format_cpu_list(&self.nohz_full)),
            self.clocksource.as_deref().map_or_else(|| "null".to_owned(), &json_string),
            self.tsc_for_quanta,
        )
    }
}

/// How an item stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// As a trading host should have it.
    Ok,
    /// Should be changed; the check says how.
    Tune,
    /// Cannot be known from here (said why).
    Unknown,
    /// A fact, no judgement.
    Info,
}

impl Status {
    /// Short label.
    #[must_use]
    pub const fn label(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Tune => "tune",
            Status::Unknown => "unknown",
            Status::Info => "info",
        }
    }
}

/// One item of the host check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// What is checked.
    pub item: &'static str,
    /// The verdict.
    pub status: Status,
    /// What was found.
    pub found: String,
    /// What a co-located trading host should have.
    pub want: String,
    /// The command or setting that fixes it (empty when nothing to do).
    pub fix: String,
}

impl Check {
    fn new(item: &'static str, status: Status, found: String, want: &str, fix: String) -> Self {
        Self { item, status, found, want: want.to_owned(), fix }
    }
}

/// The whole check.
#[derive(Debug, Clone)]
pub struct HostReport {
    /// The machine.
    pub machine: Machine,
    /// The CPU the hot thread would run on.
    pub core: usize,
    /// Whether `core` was chosen by the caller (else: first isolated CPU,
    /// or the last online one).
    pub core_given: bool,
    /// Every item, in report order.
    pub checks: Vec<Check>,
}

impl HostReport {
    /// How many checks have `status`.
    #[must_use]
    pub fn count(&self, status: Status) -> usize {
        self.checks.iter().filter(|c| c.status == status).count()
    }
}

/// The hot core when none is given: the first isolated CPU, else the last
/// online one (CPU 0 keeps the housekeeping).
#[must_use]
pub fn default_core(machine: &Machine) -> usize {
    machine.isolated.first().or(machine.online.last()).copied().unwrap_or(0)
}

/// Runs every check for a hot thread on `core` (or the default core).
#[must_use]
pub fn check_host(src: &HostSource, core: Option<usize>) -> HostReport {
    let probe = Machine::read(src, core);
    let core_given = core.is_some();
    let core = core.unwrap_or_else(|| default_core(&probe));
    let machine = Machine::read(src, Some(core));
    let virtualized = machine.hypervisor.is_some();
    let checks = vec![
        check_cpu(src, &machine),
        check_kernel(src),
        check_virtualization(src, &machine),
        check_isolation(src, &machine, core),
        check_siblings(src, &machine, core),
        check_governor(&machine, core),
        check_turbo(src, virtualized),
        check_cstates(src, core, virtualized),
        check_thp(src),
        check_swap(src),
        check_irqs(src, &machine, core),
        check_busy_poll(src),
        check_coalescing(src),
        check_clocksource(src),
        check_timer_slack(src),
        check_tsc(&machine),
        check_memlock(src),
    ];
    HostReport { machine, core, core_given, checks }
}

fn check_cpu(src: &HostSource, m: &Machine) -> Check {
    let smt = src.read("sys/devices/system/cpu/smt/control").unwrap_or_else(|| "unknown".to_owned());
    let fm = m.family_model.map_or_else(String::new, |(f, mo)| format!(" (family {f} model {mo})"));
    Check::new(
        "cpu",
        Status::Info,
        format!("{}{fm}; online CPUs {}; SMT control {smt}", m.cpu_model, format_cpu_list(&m.online)),
        "",
        String::new(),
    )
}

/// The kernel's build configuration: `/proc/config.gz`, else
/// `/boot/config-<release>`.
fn kernel_config(src: &HostSource, release: &str) -> Option<String> {
    src.read_gz("proc/config.gz").or_else(|| src.read(&format!("boot/config-{release}")))
}

fn check_kernel(src: &HostSource) -> Check {
    let want = "a kernel built with CONFIG_NO_HZ_FULL=y (nohz_full works only then)";
    let release = src.read("proc/sys/kernel/osrelease").unwrap_or_else(|| "unknown".to_owned());
    let Some(config) = kernel_config(src, &release) else {
        return Check::new(
            "kernel",
            Status::Unknown,
            format!("{release}; no /proc/config.gz or /boot/config-{release} to read its options from"),
            want,
            String::new(),
        );
    };
    let option = |name: &str| {
        config.lines().find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix('=')).map(str::to_owned))
    };
    let hz = option("CONFIG_HZ").unwrap_or_else(|| "?".to_owned());
    let preempt = ["CONFIG_PREEMPT_RT", "CONFIG_PREEMPT", "CONFIG_PREEMPT_VOLUNTARY", "CONFIG_PREEMPT_NONE"]
        .into_iter()
        .find(|o| option(o).as_deref() == Some("y"))
        .map_or("unknown", |o| o.trim_start_matches("CONFIG_"));
    let dynamic = if option("CONFIG_PREEMPT_DYNAMIC").as_deref() == Some("y") { " (dynamic)" } else { "" };
    let no_hz_full = option("CONFIG_NO_HZ_FULL").as_deref() == Some("y");
    let found = format!(
        "{release}, HZ={hz} (a preempted thread can lose {} ms slices), {preempt}{dynamic}, CONFIG_NO_HZ_FULL {}",
        hz.parse::<u64>().map_or_else(|_| "?".to_owned(), |h| (1000 / h.max(1)).to_string()),
        if no_hz_full { "y" } else { "not set" }
    );
    if no_hz_full {
        Check::new("kernel", Status::Ok, found, want, String::new())
    } else {
        Check::new(
            "kernel",
            Status::Tune,
            found,
            want,
            "boot a kernel built with CONFIG_NO_HZ_FULL=y (most distributions' generic or lowlatency kernels are)"
                .to_owned(),
        )
    }
}

fn check_virtualization(src: &HostSource, m: &Machine) -> Check {
    let Some(h) = &m.hypervisor else {
        return Check::new("virtualization", Status::Ok, "bare metal".to_owned(), "bare metal", String::new());
    };
    // /proc/stat: cpu user nice system idle iowait irq softirq steal …
    let steal = src
        .read("proc/stat")
        .and_then(|s| s.lines().next().and_then(|l| l.split_whitespace().nth(8)).and_then(|v| v.parse::<u64>().ok()));
    let steal =
        steal.map_or_else(|| "steal time unknown".to_owned(), |t| format!("{t} ticks of steal time since boot"));
    Check::new(
        "virtualization",
        Status::Tune,
        format!(
            "{h} guest ({steal}); the host's C-states, frequency, interrupt routing and TSC are not visible from here"
        ),
        "bare metal, or dedicated pinned vCPUs with no overcommit",
        "ask the provider for dedicated (pinned) cores, or move to bare metal".to_owned(),
    )
}

fn check_isolation(src: &HostSource, m: &Machine, core: usize) -> Check {
    let cmdline = src.read("proc/cmdline").unwrap_or_default();
    let list = |key: &str| cmdline_value(&cmdline, key).and_then(parse_cpu_list).unwrap_or_default();
    let isolcpus = list("isolcpus");
    let rcu_nocbs = list("rcu_nocbs");
    let isolated = if m.isolated.is_empty() { isolcpus.clone() } else { m.isolated.clone() };
    let found = format!(
        "isolated {}, nohz_full {}, rcu_nocbs {}",
        format_cpu_list(&isolated),
        format_cpu_list(&m.nohz_full),
        format_cpu_list(&rcu_nocbs)
    );
    let ok = isolated.contains(&core) && m.nohz_full.contains(&core) && rcu_nocbs.contains(&core);
    let status = if !m.online.is_empty() && !m.online.contains(&core) {
        return Check::new(
            "isolated cores",
            Status::Tune,
            format!("CPU {core} is not online (online {}); {found}", format_cpu_list(&m.online)),
            "the hot core online and isolated",
            format!("choose an online CPU with --core, or bring CPU {core} online"),
        );
    } else if ok {
        Status::Ok
    } else {
        Status::Tune
    };
    Check::new(
        "isolated cores",
        status,
        found,
        &format!("CPU {core} in isolcpus, nohz_full and rcu_nocbs (no scheduler, tick or RCU work on the hot core)"),
        if ok {
            String::new()
        } else {
            format!(
                "add `isolcpus=managed_irq,domain,{core} nohz_full={core} rcu_nocbs={core}` to GRUB_CMDLINE_LINUX in /etc/default/grub, run update-grub, reboot"
            )
        },
    )
}

fn check_siblings(src: &HostSource, m: &Machine, core: usize) -> Check {
    let item = "hot core's SMT siblings";
    let want = "no online sibling: the other hyper-thread shares the core's caches and execution units";
    let Some(list) = src
        .read(&format!("sys/devices/system/cpu/cpu{core}/topology/thread_siblings_list"))
        .and_then(|t| parse_cpu_list(&t))
    else {
        return Check::new(item, Status::Unknown, format!("no topology for CPU {core}"), want, String::new());
    };
    let siblings: Vec<usize> =
        list.into_iter().filter(|&c| c != core && (m.online.is_empty() || m.online.contains(&c))).collect();
    if siblings.is_empty() {
        return Check::new(item, Status::Ok, format!("CPU {core} has no online sibling"), want, String::new());
    }
    let fix = siblings
        .iter()
        .map(|s| format!("echo 0 | sudo tee /sys/devices/system/cpu/cpu{s}/online"))
        .collect::<Vec<_>>()
        .join("; ");
    Check::new(
        item,
        Status::Tune,
        format!("CPU {core} shares its core with CPU {}", format_cpu_list(&siblings)),
        want,
        format!("{fix} (or boot with nosmt)"),
    )
}

fn check_governor(m: &Machine, core: usize) -> Check {
    let want = "performance";
    match m.governor.as_deref() {
        None => Check::new(
            "CPU governor",
            Status::Unknown,
            format!(
                "no cpufreq interface for CPU {core}{}",
                if m.hypervisor.is_some() { " (the hypervisor controls the frequency)" } else { "" }
            ),
            want,
            String::new(),
        ),
        Some("performance") => Check::new("CPU governor", Status::Ok, "performance".to_owned(), want, String::new()),
        Some(g) => Check::new(
            "CPU governor",
            Status::Tune,
            g.to_owned(),
            want,
            format!("sudo cpupower -c {core} frequency-set -g performance"),
        ),
    }
}

fn check_turbo(src: &HostSource, virtualized: bool) -> Check {
    let want = "off while measuring (a steady clock makes figures comparable); on only deliberately, with the performance governor";
    if let Some(v) = src.read("sys/devices/system/cpu/intel_pstate/no_turbo") {
        return if v == "1" {
            Check::new("turbo", Status::Ok, "off (intel_pstate no_turbo=1)".to_owned(), want, String::new())
        } else {
            Check::new(
                "turbo",
                Status::Tune,
                "on (intel_pstate no_turbo=0)".to_owned(),
                want,
                "echo 1 | sudo tee /sys/devices/system/cpu/intel_pstate/no_turbo".to_owned(),
            )
        };
    }
    if let Some(v) = src.read("sys/devices/system/cpu/cpufreq/boost") {
        return if v == "0" {
            Check::new("turbo", Status::Ok, "off (cpufreq boost=0)".to_owned(), want, String::new())
        } else {
            Check::new(
                "turbo",
                Status::Tune,
                "on (cpufreq boost=1)".to_owned(),
                want,
                "echo 0 | sudo tee /sys/devices/system/cpu/cpufreq/boost".to_owned(),
            )
        };
    }
    Check::new(
        "turbo",
        Status::Unknown,
        format!(
            "no intel_pstate or cpufreq boost control{}",
            if virtualized { " (the hypervisor decides)" } else { "" }
        ),
        want,
        String::new(),
    )
}

/// Deepest idle-state exit latency, µs, a hot core may keep enabled.
const MAX_IDLE_LATENCY_US: u64 = 2;

fn check_cstates(src: &HostSource, core: usize, virtualized: bool) -> Check {
    let want = "no idle state with an exit latency above 2 µs enabled on the hot core";
    let dir = format!("sys/devices/system/cpu/cpu{core}/cpuidle");
    let states: Vec<(String, u64, bool)> = src
        .list_dir(&dir)
        .into_iter()
        .filter(|n| n.starts_with("state"))
        .filter_map(|s| {
            let name = src.read(&format!("{dir}/{s}/name"))?;
            let latency = src.read(&format!("{dir}/{s}/latency"))?.parse().ok()?;
            let disabled = src.read(&format!("{dir}/{s}/disable")).is_some_and(|d| d == "1");
            Some((name, latency, disabled))
        })
        .collect();
    if states.is_empty() {
        return Check::new(
            "C-states",
            Status::Unknown,
            format!(
                "no cpuidle states for CPU {core}{}",
                if virtualized { " (the host's are not visible)" } else { "" }
            ),
            want,
            String::new(),
        );
    }
    let driver = src.read("sys/devices/system/cpu/cpuidle/current_driver").unwrap_or_else(|| "unknown".to_owned());
    let listing = states
        .iter()
        .map(|(n, l, d)| format!("{n} {l} µs{}", if *d { " (disabled)" } else { "" }))
        .collect::<Vec<_>>()
        .join(", ");
    let deep = states.iter().any(|(_, l, d)| !d && *l > MAX_IDLE_LATENCY_US);
    let found = format!(
        "driver {driver}: {listing}{}",
        if virtualized { "; guest view only, the host's C-states are not visible" } else { "" }
    );
    if deep {
        Check::new(
            "C-states",
            Status::Tune,
            found,
            want,
            format!(
                "sudo cpupower -c {core} idle-set -D {MAX_IDLE_LATENCY_US} (or boot with intel_idle.max_cstate=1 processor.max_cstate=1)"
            ),
        )
    } else {
        Check::new("C-states", Status::Ok, found, want, String::new())
    }
}

/// The bracketed choice of a sysfs selector (`always [madvise] never`).
fn selected(text: &str) -> Option<&str> {
    let start = text.find('[')? + 1;
    let end = start + text[start..].find(']')?;
    Some(&text[start..end])
}

fn check_thp(src: &HostSource) -> Check {
    let want = "enabled: madvise or never; defrag: not always (no compaction stalls on page faults)";
    let enabled = src.read("sys/kernel/mm/transparent_hugepage/enabled");
    let defrag = src.read("sys/kernel/mm/transparent_hugepage/defrag");
    let (Some(e), Some(d)) = (enabled.as_deref().and_then(selected), defrag.as_deref().and_then(selected)) else {
        return Check::new(
            "transparent huge pages",
            Status::Unknown,
            "no transparent_hugepage settings".to_owned(),
            want,
            String::new(),
        );
    };
    let found = format!("enabled {e}, defrag {d}");
    if e == "always" || d == "always" {
        Check::new(
            "transparent huge pages",
            Status::Tune,
            found,
            want,
            "echo madvise | sudo tee /sys/kernel/mm/transparent_hugepage/enabled; echo madvise | sudo tee /sys/kernel/mm/transparent_hugepage/defrag (boot: transparent_hugepage=madvise)".to_owned(),
        )
    } else {
        Check::new("transparent huge pages", Status::Ok, found, want, String::new())
    }
}

fn check_swap(src: &HostSource) -> Check {
    let want = "no swap (a page of the hot path swapped out is a multi-millisecond stall)";
    let Some(swaps) = src.read("proc/swaps") else {
        return Check::new("swap", Status::Unknown, "/proc/swaps unreadable".to_owned(), want, String::new());
    };
    let devices: Vec<&str> = swaps.lines().skip(1).filter_map(|l| l.split_whitespace().next()).collect();
    let swappiness = src.read("proc/sys/vm/swappiness").unwrap_or_else(|| "?".to_owned());
    if devices.is_empty() {
        Check::new("swap", Status::Ok, format!("no swap device (swappiness {swappiness})"), want, String::new())
    } else {
        Check::new(
            "swap",
            Status::Tune,
            format!("swap on {} (swappiness {swappiness})", devices.join(", ")),
            want,
            "sudo swapoff -a and remove the swap entries from /etc/fstab".to_owned(),
        )
    }
}

fn check_irqs(src: &HostSource, m: &Machine, core: usize) -> Check {
    let want = "no device interrupt routed to the hot core";
    let irqs: Vec<String> =
        src.list_dir("proc/irq").into_iter().filter(|n| n.chars().all(|c| c.is_ascii_digit())).collect();
    if irqs.is_empty() {
        return Check::new("IRQ affinity", Status::Unknown, "no /proc/irq entries".to_owned(), want, String::new());
    }
    // Names from /proc/interrupts: "  31:   0   436   PCI-MSIX-…  3-edge  virtio0-stats".
    let interrupts = src.read("proc/interrupts").unwrap_or_default();
    let name_of = |irq: &str| {
        interrupts.lines().find_map(|l| {
            let (n, rest) = l.trim_start().split_once(':')?;
            (n == irq).then(|| rest.split_whitespace().last().unwrap_or("").to_owned())
        })
    };
    let mut on_core = Vec::new();
    for irq in &irqs {
        let affinity = src
            .read(&format!("proc/irq/{irq}/effective_affinity_list"))
            .filter(|t| !t.is_empty())
            .or_else(|| src.read(&format!("proc/irq/{irq}/smp_affinity_list")))
            .and_then(|t| parse_cpu_list(&t));
        if affinity.is_some_and(|a| a.contains(&core)) {
            on_core.push(irq.clone());
        }
    }
    let default = src.read("proc/irq/default_smp_affinity").unwrap_or_else(|| "?".to_owned());
    if on_core.is_empty() {
        return Check::new(
            "IRQ affinity",
            Status::Ok,
            format!("none of {} IRQs may run on CPU {core} (default mask {default})", irqs.len()),
            want,
            String::new(),
        );
    }
    let named: Vec<String> =
        on_core.iter().take(6).map(|i| name_of(i).map_or_else(|| i.clone(), |n| format!("{i} {n}"))).collect();
    let others: Vec<usize> = m.online.iter().copied().filter(|&c| c != core).collect();
    let fix = if others.is_empty() {
        "a single online CPU cannot keep interrupts off the hot core: add cores".to_owned()
    } else {
        format!(
            "for i in {}; do echo {} | sudo tee /proc/irq/$i/smp_affinity_list; done; and keep irqbalance off it (IRQBALANCE_BANNED_CPULIST={core}) or stop irqbalance (kernel-managed IRQs refuse the write: isolcpus=managed_irq,… keeps them off)",
            on_core.join(" "),
            format_cpu_list(&others)
        )
    };
    Check::new(
        "IRQ affinity",
        Status::Tune,
        format!(
            "{} of {} IRQs may run on CPU {core}: {}{} (default mask {default})",
            on_core.len(),
            irqs.len(),
            named.join(", "),
            if on_core.len() > named.len() { ", …" } else { "" }
        ),
        want,
        fix,
    )
}

fn check_busy_poll(src: &HostSource) -> Check {
    let want = "busy_read 50 and busy_poll 50 (µs): a socket read or poll spins on the NIC queue instead of sleeping until the interrupt; the hot thread polls with a zero timeout itself, this serves the other threads and tools";
    let (Some(poll), Some(read)) = (src.read("proc/sys/net/core/busy_poll"), src.read("proc/sys/net/core/busy_read"))
    else {
        return Check::new(
            "busy polling",
            Status::Unknown,
            "no net.core.busy_poll/busy_read".to_owned(),
            want,
            String::new(),
        );
    };
    let found = format!("net.core.busy_poll {poll}, net.core.busy_read {read}");
    if poll == "0" || read == "0" {
        Check::new(
            "busy polling",
            Status::Tune,
            found,
            want,
            "sudo sysctl -w net.core.busy_poll=50 net.core.busy_read=50 (persist in /etc/sysctl.d/)".to_owned(),
        )
    } else {
        Check::new("busy polling", Status::Ok, found, want, String::new())
    }
}

/// The interface of the default route (`/proc/net/route`, destination 0).
fn default_interface(src: &HostSource) -> Option<String> {
    src.read("proc/net/route")?.lines().skip(1).find_map(|l| {
        let mut f = l.split_whitespace();
        let iface = f.next()?;
        (f.next()? == "00000000").then(|| iface.to_owned())
    })
}

fn check_coalescing(src: &HostSource) -> Check {
    let want = "adaptive-rx off, rx-usecs 0 (an interrupt per packet: coalescing delays every frame by up to rx-usecs)";
    let Some(iface) = default_interface(src) else {
        return Check::new(
            "NIC interrupt coalescing",
            Status::Unknown,
            "no default route, so no NIC to ask".to_owned(),
            want,
            String::new(),
        );
    };
    let out = match (src.ethtool)(&iface) {
        Ok(out) => out,
        Err(why) => {
            return Check::new(
                "NIC interrupt coalescing",
                Status::Unknown,
                format!("{iface}: {why}"),
                want,
                format!("install ethtool, then `ethtool -c {iface}`"),
            );
        }
    };
    let value = |key: &str| {
        out.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k.trim() == key).then(|| v.trim().to_owned())
        })
    };
    let adaptive_rx = out.lines().find_map(|l| {
        let rest = l.trim().strip_prefix("Adaptive RX:")?;
        rest.split_whitespace().next().map(str::to_owned)
    });
    let rx_usecs = value("rx-usecs");
    let (Some(adaptive), Some(usecs)) = (adaptive_rx, rx_usecs) else {
        return Check::new(
            "NIC interrupt coalescing",
            Status::Unknown,
            format!("{iface}: ethtool -c did not report Adaptive RX and rx-usecs"),
            want,
            String::new(),
        );
    };
    let found = format!("{iface}: adaptive-rx {adaptive}, rx-usecs {usecs}");
    if adaptive == "off" && (usecs == "0" || usecs == "n/a") {
        Check::new("NIC interrupt coalescing", Status::Ok, found, want, String::new())
    } else {
        Check::new(
            "NIC interrupt coalescing",
            Status::Tune,
            found,
            want,
            format!("sudo ethtool -C {iface} adaptive-rx off rx-usecs 0"),
        )
    }
}

fn check_clocksource(src: &HostSource) -> Check {
    let want = "tsc (read in user space by the vDSO, ~20 ns; others trap or read slower devices)";
    let current = src.read("sys/devices/system/clocksource/clocksource0/current_clocksource");
    let available = src.read("sys/devices/system/clocksource/clocksource0/available_clocksource").unwrap_or_default();
    match current.as_deref() {
        None => Check::new("clocksource", Status::Unknown, "no clocksource in sysfs".to_owned(), want, String::new()),
        Some("tsc") => {
            Check::new("clocksource", Status::Ok, format!("tsc (available: {available})"), want, String::new())
        }
        Some(c) => {
            let fix = if available.split_whitespace().any(|a| a == "tsc") {
                "echo tsc | sudo tee /sys/devices/system/clocksource/clocksource0/current_clocksource (boot: clocksource=tsc tsc=reliable)".to_owned()
            } else {
                "the kernel does not offer tsc here (judged unstable, or not exposed by the hypervisor)".to_owned()
            };
            Check::new("clocksource", Status::Tune, format!("{c} (available: {available})"), want, fix)
        }
    }
}

fn check_timer_slack(src: &HostSource) -> Check {
    let want = "1 ns for the engine's threads (the hot thread never sleeps; the risk and journal threads do, and slack delays their wake-ups)";
    match src.read("proc/self/timerslack_ns").and_then(|t| t.parse::<u64>().ok()) {
        None => {
            Check::new("timer slack", Status::Unknown, "no /proc/self/timerslack_ns".to_owned(), want, String::new())
        }
        Some(ns) if ns <= 1 => Check::new("timer slack", Status::Ok, format!("{ns} ns"), want, String::new()),
        Some(ns) => Check::new(
            "timer slack",
            Status::Tune,
            format!("{ns} ns for processes started like this one"),
            want,
            "TimerSlackNSec=1 in the service unit (scripts/scalpel.service sets it), or prctl(PR_SET_TIMERSLACK, 1)"
                .to_owned(),
        ),
    }
}

fn check_tsc(m: &Machine) -> Check {
    let want = "invariant TSC and rdtscp, so quanta reads the TSC (~10 ns, calibrated once against CLOCK_MONOTONIC)";
    if m.tsc_for_quanta {
        Check::new(
            "invariant TSC",
            Status::Ok,
            format!(
                "constant_tsc, nonstop_tsc and rdtscp present: quanta uses the TSC{}",
                if m.hypervisor.is_some() {
                    " (as the hypervisor exposes it: stable only if the host's is)"
                } else {
                    ""
                }
            ),
            want,
            String::new(),
        )
    } else {
        Check::new(
            "invariant TSC",
            Status::Tune,
            "constant_tsc, nonstop_tsc or rdtscp missing: quanta falls back to clock_gettime".to_owned(),
            want,
            "use a CPU (or a hypervisor setting) that exposes an invariant TSC".to_owned(),
        )
    }
}

fn check_memlock(src: &HostSource) -> Check {
    let want = "unlimited for the engine, so it can lock its memory (LimitMEMLOCK=infinity in scripts/scalpel.service)";
    let limit = src.read("proc/self/limits").and_then(|l| {
        l.lines().find(|x| x.starts_with("Max locked memory")).map(|x| {
            let f: Vec<&str> = x.split_whitespace().collect();
            f.get(3).map_or_else(|| "?".to_owned(), |s| (*s).to_owned())
        })
    });
    match limit {
        None => {
            Check::new("locked memory limit", Status::Unknown, "no /proc/self/limits".to_owned(), want, String::new())
        }
        Some(l) => Check::new(
            "locked memory limit",
            Status::Info,
            format!("{l} for processes started like this one (the unit sets its own)"),
            want,
            String::new(),
        ),
    }
}

/// Where a path lies under the source's root (for messages).
#[must_use]
pub fn root_of(src: &HostSource) -> &Path {
    &src.root
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake root with the given files.
    struct Tree(PathBuf);

    impl Tree {
        fn new(name: &str, files: &[(&str, &str)]) -> Self {
            let root = std::env::temp_dir().join(format!("scalpel-host-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&root);
            for (path, text) in files {
                let p = root.join(path);
                std::fs::create_dir_all(p.parent().unwrap()).unwrap();
                std::fs::write(p, text).unwrap();
            }
            Self(root)
        }
    }

    impl Drop for Tree {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn status(r: &HostReport, item: &str) -> Status {
        r.checks.iter().find(|c| c.item == item).unwrap_or_else(|| panic!("no check {item}")).status
    }

    fn found<'r>(r: &'r HostReport, item: &str) -> &'r str {
        &r.checks.iter().find(|c| c.item == item).unwrap().found
    }

    const CPUINFO_VM: &str = "processor\t: 0\nmodel name\t: Intel(R) Xeon(R) Processor\ncpu family\t: 6\nmodel\t\t: 207\nflags\t\t: fpu tsc rdtscp constant_tsc nonstop_tsc hypervisor\n\nprocessor\t: 1\nmodel name\t: Intel(R) Xeon(R) Processor\n";

    /// A two-vCPU KVM guest like the CI VM: nothing tuned, much unknown.
    fn vm() -> Tree {
        Tree::new(
            "vm",
            &[
                ("proc/cpuinfo", CPUINFO_VM),
                ("proc/cmdline", "console=ttyS0 quiet"),
                ("proc/sys/kernel/osrelease", "6.18.44-fc"),
                ("proc/stat", "cpu  287302 95914 35166 83541 1076 0 171 261 0 0\n"),
                ("proc/swaps", "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n"),
                ("proc/sys/vm/swappiness", "60"),
                ("proc/sys/net/core/busy_poll", "0"),
                ("proc/sys/net/core/busy_read", "0"),
                ("proc/self/timerslack_ns", "50000"),
                ("proc/self/limits", "Max locked memory         8388608              8388608              bytes\n"),
                ("proc/net/route", "Iface\tDestination\tGateway\nlo\t0000007F\t00000000\neth0\t00000000\t010200C0\n"),
                ("proc/irq/default_smp_affinity", "3"),
                ("proc/irq/31/smp_affinity_list", "0-1"),
                ("proc/irq/31/effective_affinity_list", "1"),
                ("proc/irq/32/smp_affinity_list", "0-1"),
                ("proc/irq/32/effective_affinity_list", "0"),
                (
                    "proc/interrupts",
                    "           CPU0       CPU1\n 31:          0        436   PCI-MSIX  3-edge      virtio0-stats\n 32:        287          0   PCI-MSIX  4-edge      virtio0-reporting_vq\n",
                ),
                ("sys/devices/system/cpu/online", "0-1"),
                ("sys/devices/system/cpu/isolated", ""),
                ("sys/devices/system/cpu/smt/control", "notsupported"),
                ("sys/devices/system/cpu/cpu1/topology/thread_siblings_list", "1"),
                ("sys/devices/system/cpu/cpuidle/current_driver", "haltpoll"),
                ("sys/devices/system/cpu/cpu1/cpuidle/state0/name", "POLL"),
                ("sys/devices/system/cpu/cpu1/cpuidle/state0/latency", "0"),
                ("sys/devices/system/cpu/cpu1/cpuidle/state0/disable", "0"),
                ("sys/devices/system/cpu/cpu1/cpuidle/state1/name", "haltpoll idle"),
                ("sys/devices/system/cpu/cpu1/cpuidle/state1/latency", "1"),
                ("sys/devices/system/cpu/cpu1/cpuidle/state1/disable", "0"),
                ("sys/kernel/mm/transparent_hugepage/enabled", "always [madvise] never"),
                ("sys/kernel/mm/transparent_hugepage/defrag", "always defer defer+madvise [madvise] never"),
                ("sys/devices/system/clocksource/clocksource0/current_clocksource", "tsc"),
                ("sys/devices/system/clocksource/clocksource0/available_clocksource", "tsc kvm-clock"),
            ],
        )
    }

    #[test]
    fn a_kvm_guest_is_reported_honestly() {
        let tree = vm();
        // The kernel's options as /proc/config.gz gives them.
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(
            &mut gz,
            b"CONFIG_NO_HZ_IDLE=y\nCONFIG_PREEMPT_NONE=y\nCONFIG_PREEMPT_DYNAMIC=y\nCONFIG_HZ_250=y\nCONFIG_HZ=250\n",
        )
        .unwrap();
        std::fs::write(tree.0.join("proc/config.gz"), gz.finish().unwrap()).unwrap();
        let src = HostSource::at(tree.0.clone(), |_| Err("ethtool is not installed".to_owned()));
        let r = check_host(&src, None);
        assert_eq!(r.core, 1, "last online CPU when none is isolated");
        assert!(!r.core_given);
        assert_eq!(r.machine.hypervisor.as_deref(), Some("KVM"));
        assert_eq!(r.machine.family_model, Some((6, 207)));
        assert_eq!(status(&r, "virtualization"), Status::Tune);
        assert!(found(&r, "virtualization").contains("261 ticks of steal time"));
        assert_eq!(status(&r, "kernel"), Status::Tune);
        assert_eq!(
            found(&r, "kernel"),
            "6.18.44-fc, HZ=250 (a preempted thread can lose 4 ms slices), PREEMPT_NONE (dynamic), CONFIG_NO_HZ_FULL not set"
        );
        assert_eq!(status(&r, "isolated cores"), Status::Tune);
        assert_eq!(status(&r, "hot core's SMT siblings"), Status::Ok);
        assert_eq!(status(&r, "CPU governor"), Status::Unknown);
        assert_eq!(status(&r, "turbo"), Status::Unknown);
        assert_eq!(status(&r, "C-states"), Status::Ok);
        assert!(found(&r, "C-states").contains("guest view only"));
        assert_eq!(status(&r, "transparent huge pages"), Status::Ok);
        assert_eq!(status(&r, "swap"), Status::Ok);
        assert_eq!(status(&r, "IRQ affinity"), Status::Tune);
        assert!(
            found(&r, "IRQ affinity").contains("1 of 2 IRQs may run on CPU 1: 31 virtio0-stats"),
            "{}",
            found(&r, "IRQ affinity")
        );
        assert!(r.checks.iter().find(|c| c.item == "IRQ affinity").unwrap().fix.contains("for i in 31; do echo 0 |"));
        assert_eq!(status(&r, "busy polling"), Status::Tune);
        assert_eq!(status(&r, "NIC interrupt coalescing"), Status::Unknown);
        assert!(found(&r, "NIC interrupt coalescing").contains("eth0: ethtool is not installed"));
        assert_eq!(status(&r, "clocksource"), Status::Ok);
        assert_eq!(status(&r, "timer slack"), Status::Tune);
        assert_eq!(status(&r, "invariant TSC"), Status::Ok);
        assert_eq!(status(&r, "locked memory limit"), Status::Info);
        assert!(r.machine.summary().contains("KVM guest, governor n/a (no cpufreq), isolated none"));
        let v: serde_json::Value = serde_json::from_str(&r.machine.json()).unwrap();
        assert_eq!(
            (v["model"].as_u64(), v["virtualized"].as_str(), v["tsc"].as_bool()),
            (Some(207), Some("KVM"), Some(true))
        );
    }

    #[test]
    fn a_tuned_host_passes_and_an_untuned_one_gets_fixes() {
        let tuned = Tree::new(
            "tuned",
            &[
                (
                    "proc/cpuinfo",
                    "processor\t: 0\nmodel name\t: AMD EPYC\nflags\t\t: tsc rdtscp constant_tsc nonstop_tsc\n",
                ),
                ("proc/cmdline", "isolcpus=managed_irq,domain,2-3 nohz_full=2-3 rcu_nocbs=2-3 quiet"),
                ("proc/sys/kernel/osrelease", "6.8.0-lowlatency"),
                ("boot/config-6.8.0-lowlatency", "CONFIG_HZ=1000\nCONFIG_PREEMPT=y\nCONFIG_NO_HZ_FULL=y\n"),
                ("proc/swaps", "Filename Type Size Used Priority\n"),
                ("proc/sys/net/core/busy_poll", "50"),
                ("proc/sys/net/core/busy_read", "50"),
                ("proc/self/timerslack_ns", "1"),
                ("proc/self/limits", "Max locked memory         unlimited            unlimited            bytes\n"),
                ("proc/net/route", "Iface\tDestination\nenp1s0\t00000000\n"),
                ("proc/irq/40/smp_affinity_list", "0-1"),
                ("proc/irq/40/effective_affinity_list", "0"),
                ("sys/devices/system/cpu/online", "0-3"),
                ("sys/devices/system/cpu/isolated", "2-3"),
                ("sys/devices/system/cpu/nohz_full", "2-3"),
                ("sys/devices/system/cpu/cpu2/topology/thread_siblings_list", "2"),
                ("sys/devices/system/cpu/cpu2/cpufreq/scaling_governor", "performance"),
                ("sys/devices/system/cpu/intel_pstate/no_turbo", "1"),
                ("sys/devices/system/cpu/cpu2/cpuidle/state0/name", "POLL"),
                ("sys/devices/system/cpu/cpu2/cpuidle/state0/latency", "0"),
                ("sys/devices/system/cpu/cpu2/cpuidle/state1/name", "C6"),
                ("sys/devices/system/cpu/cpu2/cpuidle/state1/latency", "133"),
                ("sys/devices/system/cpu/cpu2/cpuidle/state1/disable", "1"),
                ("sys/kernel/mm/transparent_hugepage/enabled", "always madvise [never]"),
                ("sys/kernel/mm/transparent_hugepage/defrag", "always [never]"),
                ("sys/devices/system/clocksource/clocksource0/current_clocksource", "tsc"),
            ],
        );
        let src = HostSource::at(tuned.0.clone(), |iface| {
            assert_eq!(iface, "enp1s0");
            Ok("Coalesce parameters for enp1s0:\nAdaptive RX: off  TX: off\nrx-usecs: 0\nrx-frames: 0\n".to_owned())
        });
        let r = check_host(&src, None);
        assert_eq!(r.core, 2, "first isolated CPU");
        for c in &r.checks {
            assert!(matches!(c.status, Status::Ok | Status::Info), "{c:?}");
        }

        let untuned = Tree::new(
            "untuned",
            &[
                ("proc/cpuinfo", "processor\t: 0\nmodel name\t: Old CPU\nflags\t\t: tsc\n"),
                ("proc/cmdline", ""),
                ("proc/swaps", "Filename Type Size Used Priority\n/dev/sda2 partition 100 0 -2\n"),
                ("proc/net/route", "Iface\tDestination\neth1\t00000000\n"),
                ("sys/devices/system/cpu/online", "0-3"),
                ("sys/devices/system/cpu/cpu1/topology/thread_siblings_list", "1,3"),
                ("sys/devices/system/cpu/cpu1/cpufreq/scaling_governor", "powersave"),
                ("sys/devices/system/cpu/cpufreq/boost", "1"),
                ("sys/devices/system/cpu/cpu1/cpuidle/state2/name", "C6"),
                ("sys/devices/system/cpu/cpu1/cpuidle/state2/latency", "133"),
                ("sys/devices/system/cpu/cpu1/cpuidle/state2/disable", "0"),
                ("sys/kernel/mm/transparent_hugepage/enabled", "[always] madvise never"),
                ("sys/kernel/mm/transparent_hugepage/defrag", "[always] never"),
                ("sys/devices/system/clocksource/clocksource0/current_clocksource", "hpet"),
                ("sys/devices/system/clocksource/clocksource0/available_clocksource", "hpet acpi_pm"),
            ],
        );
        let src = HostSource::at(untuned.0.clone(), |_| Ok("Adaptive RX: on  TX: on\nrx-usecs: 50\n".to_owned()));
        let r = check_host(&src, Some(1));
        assert!(r.core_given);
        for item in [
            "isolated cores",
            "hot core's SMT siblings",
            "CPU governor",
            "turbo",
            "C-states",
            "transparent huge pages",
            "swap",
            "NIC interrupt coalescing",
            "clocksource",
            "invariant TSC",
        ] {
            let c = r.checks.iter().find(|c| c.item == item).unwrap();
            assert_eq!(c.status, Status::Tune, "{c:?}");
            assert!(!c.fix.is_empty(), "{c:?}");
        }
        let fix = |item: &str| r.checks.iter().find(|c| c.item == item).unwrap().fix.clone();
        assert!(fix("hot core's SMT siblings").contains("cpu3/online"));
        assert!(fix("CPU governor").contains("cpupower -c 1 frequency-set -g performance"));
        assert!(fix("NIC interrupt coalescing").contains("ethtool -C eth1 adaptive-rx off rx-usecs 0"));
        assert!(fix("clocksource").contains("does not offer tsc"));
        assert!(fix("isolated cores").contains("isolcpus=managed_irq,domain,1 nohz_full=1 rcu_nocbs=1"));
        // Files that are absent are unknown, not "fine".
        assert_eq!(status(&r, "busy polling"), Status::Unknown);
        assert_eq!(status(&r, "timer slack"), Status::Unknown);
        assert_eq!(status(&r, "IRQ affinity"), Status::Unknown);
    }

    #[test]
    fn cpu_lists_parse_and_format() {
        assert_eq!(parse_cpu_list("0-3,5,8-9"), Some(vec![0, 1, 2, 3, 5, 8, 9]));
        assert_eq!(parse_cpu_list("managed_irq,domain,2-3"), Some(vec![2, 3]));
        assert_eq!(parse_cpu_list(""), Some(vec![]));
        assert_eq!(parse_cpu_list("3-1"), None);
        assert_eq!(parse_cpu_list("x1"), None);
        assert_eq!(format_cpu_list(&[0, 1, 2, 3, 5, 8, 9]), "0-3,5,8-9");
        assert_eq!(format_cpu_list(&[]), "none");
        assert_eq!(selected("always [madvise] never"), Some("madvise"));
        assert_eq!(cmdline_value("a isolcpus=1-2 b", "isolcpus"), Some("1-2"));
        assert!(natural_key("state10") > natural_key("state9"));
    }

    #[test]
    fn an_offline_hot_core_is_refused() {
        let tree = vm();
        let src = HostSource::at(tree.0.clone(), |_| Err("no".to_owned()));
        let r = check_host(&src, Some(5));
        let c = r.checks.iter().find(|c| c.item == "isolated cores").unwrap();
        assert_eq!(c.status, Status::Tune);
        assert!(c.found.contains("CPU 5 is not online (online 0-1)"), "{c:?}");
    }
}
