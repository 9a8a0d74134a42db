//! A simulated hot thread and venue around the real risk and journal
//! threads, for the kill-switch and burst tests.
#![allow(dead_code)]

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use scalpel::fixed::{Notional, Price, Qty};
use scalpel::instrument::{Instrument, InstrumentTable, Symbol};
use scalpel::journal::thread::{JournalSummary, JournalThreadIo, Telemetry};
use scalpel::journal::{Entry, JournalConfig, JournalError, JournalReader, JournalRecord, JournalWriter, ReadError};
use scalpel::order::{ClientOrderId, Fill, OrderEvent, OrderKind, OrderRequest, TimeInForce, VenueOrderId};
use scalpel::ring::{self, LosslessConsumer, LosslessProducer, LossyProducer};
use scalpel::risk::gate::{CheckContext, GateSlot, Refusal, RiskGate};
use scalpel::risk::monitor::{RiskCommand, RiskInput, RiskMonitor, RiskOutput};
use scalpel::risk::thread::{self, KillSwitch, RiskRunReport, RiskThreadIo};
use scalpel::risk::{RiskConfig, VerdictCell};
use scalpel::side::Side;
use scalpel::venue::Venue;

pub const MID: Price = Price(5_000_000); // 50 000.00

pub fn instruments() -> Vec<Instrument> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tuning/instruments.toml");
    InstrumentTable::from_toml_file(&path).expect("tuning/instruments.toml loads").all().to_vec()
}

/// A fresh directory under the system temp dir.
pub fn temp_dir(name: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let dir = std::env::temp_dir().join(format!("scalpel-{name}-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The hot thread's side of the pipeline plus a venue that acks at once
/// and fills when told.
pub struct Desk {
    pub gate: RiskGate,
    pub slot: GateSlot,
    pub symbol: Symbol,
    pub to_risk: LosslessProducer<RiskInput>,
    pub commands: LosslessConsumer<RiskCommand>,
    pub telemetry: LossyProducer<Telemetry>,
    pub verdict: Arc<VerdictCell>,
    /// Orders resting at the simulated venue.
    pub resting: Vec<(ClientOrderId, Side, Qty)>,
    next_id: u64,
    next_trade: u64,
    now_ns: u64,
}

pub struct Pipeline {
    pub desk: Desk,
    pub risk: JoinHandle<RiskRunReport>,
    pub journal: JoinHandle<Result<JournalSummary<File>, JournalError>>,
    pub journal_path: PathBuf,
    pub journal_stop: Arc<AtomicBool>,
}

pub fn start(dir: &Path, cfg: RiskConfig, kill: KillSwitch, lossless_capacity: usize) -> Pipeline {
    let insts = instruments();
    let verdict = Arc::new(VerdictCell::new());
    let (to_risk, risk_in) = ring::lossless::<RiskInput>(lossless_capacity, lossless_capacity * 3 / 4);
    let (cmd_tx, cmd_rx) = ring::lossless::<RiskCommand>(1024, 1024);
    let (journal_tx, journal_rx) = ring::lossless::<JournalRecord>(ring::LOSSLESS_DEFAULT_CAPACITY, usize::MAX);
    let (telemetry_tx, telemetry_rx) = ring::lossy::<Telemetry>(ring::LOSSY_DEFAULT_CAPACITY);

    let journal_cfg = JournalConfig { sync: false, ..JournalConfig::default() };
    let journal_path = dir.join("journal.bin");
    let writer = JournalWriter::create(&journal_path, &insts, &journal_cfg, thread::wall_clock_ms() as u64 * 1_000_000)
        .expect("journal file");
    let journal_stop = Arc::new(AtomicBool::new(false));
    let journal = scalpel::journal::thread::spawn(
        writer,
        JournalThreadIo { records: journal_rx, telemetry: telemetry_rx, contexts: None },
        journal_cfg,
        scalpel::journal::thread::wall_clock_ns,
        Arc::clone(&journal_stop),
    )
    .unwrap();

    let monitor = RiskMonitor::new(cfg.clone(), &insts, thread::wall_clock_ms());
    let io = RiskThreadIo { input: risk_in, commands: cmd_tx, journal: journal_tx, verdict: Arc::clone(&verdict) };
    let risk = thread::spawn(monitor, io, kill, thread::wall_clock_ms).unwrap();

    let gate = RiskGate::new(&cfg, &insts, Arc::clone(&verdict), 0).unwrap();
    let symbol = Symbol::new(b"BTCUSDT").unwrap();
    let slot = gate.slot(Venue::BinanceUsdm, &symbol).unwrap();
    let desk = Desk {
        gate,
        slot,
        symbol,
        to_risk,
        commands: cmd_rx,
        telemetry: telemetry_tx,
        verdict,
        resting: Vec::new(),
        next_id: 1,
        next_trade: 1,
        now_ns: 1,
    };
    Pipeline { desk, risk, journal, journal_path, journal_stop }
}

impl Desk {
    /// Waits until the risk thread has published its first verdict.
    pub fn wait_for_risk_thread(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.verdict.load().seq == 0 {
            assert!(Instant::now() < deadline, "risk thread never published a verdict");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    pub fn push(&self, input: RiskInput) {
        self.to_risk.push_spin(input).expect("risk thread alive");
    }

    fn ctx(&mut self) -> CheckContext {
        self.now_ns += 1_000;
        CheckContext {
            now_ns: self.now_ns,
            mid: MID,
            mid_ts_ns: self.now_ns,
            ring_congested: self.to_risk.is_congested(),
        }
    }

    /// Gate, send, and have the venue ack. Returns the client id.
    pub fn send(
        &mut self,
        side: Side,
        kind: OrderKind,
        price: Price,
        qty: Qty,
        reduce_only: bool,
    ) -> Result<ClientOrderId, Refusal> {
        let order = OrderRequest {
            venue: Venue::BinanceUsdm,
            symbol: self.symbol,
            side,
            kind,
            tif: TimeInForce::Gtc,
            price,
            qty,
            reduce_only,
            client_id: ClientOrderId(self.next_id),
        };
        let ctx = self.ctx();
        if let Err(reason) = self.gate.check(self.slot, &order, &ctx) {
            self.telemetry.push(Telemetry::Refusal { order, reason });
            return Err(reason);
        }
        self.next_id += 1;
        self.push(RiskInput::Order(OrderEvent::Submitted { order, ts_raw: self.now_ns }));
        self.push(RiskInput::Order(OrderEvent::Acked {
            client_id: order.client_id,
            venue_order_id: VenueOrderId::from_u64(order.client_id.0 + 1_000_000),
            ts_ms: 1,
        }));
        self.resting.push((order.client_id, side, qty));
        Ok(order.client_id)
    }

    /// The venue fills a resting order completely.
    pub fn fill(&mut self, id: ClientOrderId, price: Price) {
        let pos = self.resting.iter().position(|r| r.0 == id).expect("order resting");
        let (_, side, qty) = self.resting.remove(pos);
        let fill = Fill {
            client_id: id,
            venue: Venue::BinanceUsdm,
            symbol: self.symbol,
            side,
            trade_id: scalpel::order::TradeId(u128::from(self.next_trade)),
            fee_kind: scalpel::order::FeeKind::Quote,
            price,
            qty,
            fee: Notional(1_000_000),
            is_maker: false,
            ts_ms: 1,
        };
        self.next_trade += 1;
        self.gate.on_fill(self.slot, side, qty);
        self.push(RiskInput::Order(OrderEvent::Filled(fill)));
    }

    /// The venue cancels every resting order.
    pub fn cancel_all(&mut self) {
        for (id, side, qty) in std::mem::take(&mut self.resting) {
            self.gate.on_order_done(self.slot, side, qty);
            self.push(RiskInput::Order(OrderEvent::Cancelled { client_id: id, ts_ms: 1 }));
        }
    }

    /// Closes the position with a reduce-only market order, filled at the mid.
    pub fn flatten(&mut self) {
        let pos = self.gate.position(self.slot).unwrap().0;
        if pos == 0 {
            return;
        }
        let side = if pos > 0 { Side::Sell } else { Side::Buy };
        let id =
            self.send(side, OrderKind::Market, Price::ZERO, Qty(pos.abs()), true).expect("flatten passes the gate");
        self.fill(id, MID);
    }

    /// Executes risk commands until `Exit`; returns every command seen.
    pub fn obey_until_exit(&mut self, timeout: Duration) -> Vec<RiskCommand> {
        let deadline = Instant::now() + timeout;
        let mut seen = Vec::new();
        loop {
            assert!(Instant::now() < deadline, "no Exit command within {timeout:?}; saw {seen:?}");
            let Some(command) = self.commands.pop() else {
                std::thread::sleep(Duration::from_millis(1));
                continue;
            };
            seen.push(command);
            match command {
                RiskCommand::CancelAll => self.cancel_all(),
                RiskCommand::FlattenAll | RiskCommand::Flatten { .. } => self.flatten(),
                RiskCommand::Exit => return seen,
            }
        }
    }
}

/// Every record of a journal file, and how it ended.
pub fn read_journal(path: &Path) -> (Vec<Entry>, Option<ReadError>) {
    let bytes = std::fs::read(path).unwrap();
    let mut entries = Vec::new();
    for item in JournalReader::new(&bytes[..]).unwrap() {
        match item {
            Ok(e) => entries.push(e),
            Err(e) => return (entries, Some(e)),
        }
    }
    (entries, None)
}

/// The kill-switch path end to end: open a position and a resting order,
/// throw the switch with `trigger`, obey the risk thread's commands as the
/// engine would, and check that it cancelled, flattened and exited, in
/// the verdict word, the thread's report and the journal.
pub fn kill_switch_scenario(
    name: &str,
    kill: KillSwitch,
    trigger: impl FnOnce(&Path),
    expected_cause: scalpel::risk::Cause,
) {
    use scalpel::risk::{Mode, RiskExit};
    let dir = temp_dir(name);
    let mut p = start(&dir, RiskConfig::default(), kill, 1024);
    p.desk.wait_for_risk_thread();
    assert_eq!(p.desk.verdict.load().mode, Mode::Run);

    // A filled buy (position +0.01 BTC) and a resting buy below the mid.
    let filled = p.desk.send(Side::Buy, OrderKind::Limit, MID, Qty(10), false).unwrap();
    p.desk.fill(filled, MID);
    let resting = p.desk.send(Side::Buy, OrderKind::Limit, Price(MID.0 - 20_000), Qty(5), false).unwrap();
    assert_eq!(p.desk.resting.len(), 1);

    trigger(&dir);
    let commands = p.desk.obey_until_exit(Duration::from_secs(20));
    assert_eq!(commands.first(), Some(&RiskCommand::CancelAll), "{commands:?}");
    assert_eq!(commands.get(1), Some(&RiskCommand::FlattenAll), "{commands:?}");
    assert_eq!(commands.last(), Some(&RiskCommand::Exit), "{commands:?}");

    // The venue side: nothing resting, flat.
    assert!(p.desk.resting.is_empty());
    assert_eq!(p.desk.gate.position(p.desk.slot).unwrap().0, 0);

    // The risk thread exited on its own, flat, with nothing open.
    let report = p.risk.join().expect("risk thread did not panic");
    let kill_source = match expected_cause {
        scalpel::risk::Cause::KillFile => scalpel::risk::KillSource::File,
        scalpel::risk::Cause::KillSignal => scalpel::risk::KillSource::Signal,
        _ => scalpel::risk::KillSource::Command,
    };
    assert_eq!(report.exit, RiskExit::Killed(kill_source));
    assert_eq!(report.snapshot.open_positions, 0);
    assert_eq!(report.snapshot.open_orders, 0);
    let v = p.desk.verdict.load();
    assert_eq!((v.mode, v.cause), (Mode::Halt, expected_cause));
    // Now halted: the gate refuses even a reducing order.
    assert_eq!(p.desk.send(Side::Buy, OrderKind::Limit, MID, Qty(1), false), Err(Refusal::Halted));

    // The journal has the whole story.
    drop(p.desk);
    let summary = p.journal.join().unwrap().expect("journal ok");
    let (entries, end) = read_journal(&p.journal_path);
    assert_eq!(end, None, "clean end");
    assert_eq!(entries.len() as u64, summary.records);
    let has = |want: &dyn Fn(&JournalRecord) -> bool| entries.iter().any(|e| want(&e.record));
    assert!(has(
        &|r| matches!(r, JournalRecord::Order(OrderEvent::Cancelled { client_id, .. }) if *client_id == resting)
    ));
    let fills = entries.iter().filter(|e| matches!(e.record, JournalRecord::Order(OrderEvent::Filled(_)))).count();
    assert_eq!(fills, 2);
    assert!(has(&|r| matches!(r, JournalRecord::Risk(RiskOutput::Trip { cause, .. }) if *cause == expected_cause)));
    for command in [RiskCommand::CancelAll, RiskCommand::FlattenAll, RiskCommand::Exit] {
        assert!(
            has(&|r| matches!(r, JournalRecord::Risk(RiskOutput::Command { command: c, .. }) if *c == command)),
            "{command:?}"
        );
    }
    assert!(has(
        &|r| matches!(r, JournalRecord::Risk(RiskOutput::Verdict { verdict, .. }) if verdict.mode == Mode::Flatten)
    ));
    assert!(has(
        &|r| matches!(r, JournalRecord::Risk(RiskOutput::Verdict { verdict, .. }) if verdict.mode == Mode::Halt && verdict.cause == expected_cause)
    ));
    assert!(matches!(entries.last().unwrap().record, JournalRecord::Closed { .. }));
    // The refused order after the halt went to the journal as telemetry.
    assert!(has(&|r| matches!(r, JournalRecord::GateRefusal { reason: Refusal::Halted, .. })));
    std::fs::remove_dir_all(&dir).ok();
}
