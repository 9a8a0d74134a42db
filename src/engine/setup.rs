//! Start-up of the live engine, off the hot path: profile and keys,
//! instruments from the venues, clock offsets, the Binance listenKey, the
//! profile's leverage set on each venue (checked, or no start), the
//! connection plan, the journal, the flight recorder, the threads.
//!
//! Start-up requests use a short-lived [`NetLoop`] of their own (blocking
//! with a timeout); the hot thread's loop is built afterwards, on the hot
//! thread, from the plan.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use super::config::{LiveConfig, OrderTransport, VenueConfig, VenueSecrets};
use super::recorder::{BindingEntry, FeedEntry, FileEntry, Manifest, Recorder, instruments_toml};
use super::status::{EngineEvent, SharedStats};
use super::venue::{Job, RestBuffers, Signer, VenueClock, server_time_ms};
use super::{EngineError, EngineHandle, EngineInfo};
use crate::core::{BookKind, StreamKind};
use crate::fixed::Price;
use crate::instrument::{FeeSchedule, Instrument, InstrumentId, InstrumentTable, LoadError, Symbol, Venue};
use crate::journal::{JournalConfig, JournalWriter};
use crate::net::endpoints::{Endpoints, Route, binance_route};
use crate::net::subscribe::Subscriptions;
use crate::net::tls::client_config;
use crate::net::url::Url;
use crate::net::{ConnConfig, ConnId, NetEvent, NetLoop};
use crate::order::SessionEpoch;
use crate::profile::{Profile, RiskFile};
use crate::risk::{RiskCommand, RiskInput, RiskMonitor, RiskRecord, VerdictCell};

/// What a connection is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Role {
    /// Market data (a core feed).
    Market,
    /// Binance user-data stream.
    UserData,
    /// Binance WS API / Bybit trade WebSocket.
    Orders,
    /// Bybit private stream.
    Private,
    /// REST: depth snapshots, time.
    RestMarket,
    /// REST: order fallback, queries, listenKey, dead-man switches.
    RestTrade,
}

/// One connection of the plan (index = its [`ConnId`]).
pub(super) struct ConnPlan {
    pub venue: usize,
    pub role: Role,
    pub name: String,
    pub url: Url,
    pub subs: Subscriptions,
    pub bindings: Vec<(InstrumentId, StreamKind)>,
    pub feed: Option<u16>,
    pub file: Option<u16>,
}

/// One venue, ready for the hot thread.
pub(super) struct VenueSetup {
    pub cfg: VenueConfig,
    pub tls: Arc<rustls::ClientConfig>,
    pub signer: Option<Signer>,
    pub clock: VenueClock,
    pub listen_key: Option<String>,
    /// File of REST order answers.
    pub rest_file: Option<u16>,
    /// File of paper answers (dry run).
    pub paper_file: Option<u16>,
}

/// Everything the hot thread needs.
pub(super) struct HotSetup {
    pub config: LiveConfig,
    pub profile: Profile,
    pub table: InstrumentTable,
    pub venues: Vec<VenueSetup>,
    pub plan: Vec<ConnPlan>,
    pub epoch: SessionEpoch,
    pub to_risk: crate::ring::LosslessProducer<RiskInput>,
    pub from_risk: crate::ring::LosslessConsumer<RiskCommand>,
    pub risk_cell: Arc<VerdictCell>,
    pub telemetry: crate::ring::LossyProducer<crate::journal::thread::Telemetry>,
    /// To the journal: why each order was placed (the core's risk link).
    pub contexts: crate::ring::LossyProducer<crate::journal::thread::OrderContext>,
    pub stats: Arc<SharedStats>,
    pub events: crate::ring::LossyProducer<EngineEvent>,
    pub stop: Arc<AtomicBool>,
    pub recorder: Option<(Recorder, super::recorder::RecordTap)>,
    pub hooks: super::Hooks,
    /// Figures of the Binance open-interest poll, when it runs.
    pub open_interest: Option<crate::ring::LossyConsumer<super::open_interest::OpenInterestUpdate>>,
}

fn wall_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// Blocking REST requests at start-up (and on the open-interest poll's
/// thread).
pub(super) struct SetupClient {
    net: NetLoop,
    conn: ConnId,
    venue: Venue,
}

impl SetupClient {
    pub(super) fn new(venue: Venue, rest: &Url, tls: &Arc<rustls::ClientConfig>) -> Result<Self, EngineError> {
        let mut net = NetLoop::new(quanta::Clock::new(), 64 << 10)?;
        let mut cfg = ConnConfig::new(rest.clone());
        cfg.max_message = 32 << 20;
        cfg.recv_capacity = 33 << 20;
        let conn = net.add_http(cfg, Some(Arc::clone(tls)))?;
        Ok(Self { net, conn, venue })
    }

    fn fail(&self, what: &str, problem: impl Into<String>) -> EngineError {
        EngineError::Venue { venue: self.venue.name().into(), what: what.into(), problem: problem.into() }
    }

    /// One request without a body; the status and body.
    pub(super) fn request(
        &mut self,
        what: &str,
        method: &str,
        target: &[u8],
        headers: &[(&str, &[u8])],
    ) -> Result<(u16, Vec<u8>, i64, i64), EngineError> {
        self.request_with_body(what, method, target, headers, b"")
    }

    /// One request; the status and body.
    fn request_with_body(
        &mut self,
        what: &str,
        method: &str,
        target: &[u8],
        headers: &[(&str, &[u8])],
        body: &[u8],
    ) -> Result<(u16, Vec<u8>, i64, i64), EngineError> {
        let deadline = Instant::now() + Duration::from_secs(15);
        let mut sent_ms = None;
        loop {
            if Instant::now() > deadline {
                return Err(self.fail(what, "no answer within 15 s (check the REST URL, the network and --ca-file)"));
            }
            self.net.poll_wait(Duration::from_millis(1)).map_err(EngineError::Poll)?;
            while let Some(ev) = self.net.next_event() {
                match ev {
                    NetEvent::Response { status, body, .. } => {
                        let recv = (wall_ns() / 1_000_000) as i64;
                        return Ok((status, body.to_vec(), sent_ms.unwrap_or(recv), recv));
                    }
                    NetEvent::RequestFailed { .. } => sent_ms = None,
                    NetEvent::State { reason: Some(r), .. } if sent_ms.is_none() => {
                        // Keep trying until the deadline; say why if it ends there.
                        let _ = r;
                    }
                    _ => {}
                }
            }
            if sent_ms.is_none() && self.net.http_ready(self.conn) {
                sent_ms = Some((wall_ns() / 1_000_000) as i64);
                self.net
                    .http_request(self.conn, method, target, headers, body)
                    .map_err(|e| self.fail(what, e.to_string()))?;
            }
        }
    }

    fn get(&mut self, what: &str, target: &[u8]) -> Result<Vec<u8>, EngineError> {
        let (status, body, _, _) = self.request(what, "GET", target, &[])?;
        if status != 200 {
            return Err(
                self.fail(what, format!("HTTP {status}: {}", String::from_utf8_lossy(&body[..body.len().min(300)])))
            );
        }
        Ok(body)
    }
}

/// The stream name and binding of a configured stream kind.
fn stream_of(venue: Venue, kind: &str, symbol: &Symbol) -> Vec<(String, StreamKind)> {
    match venue {
        Venue::BinanceUsdm => {
            let lower = symbol.as_str().to_ascii_lowercase();
            let (suffix, k) = match kind {
                "depth" => ("depth@0ms", StreamKind::Book(BookKind::Diff { levels: 0 })),
                "depth@100ms" | "depth@250ms" | "depth@500ms" => (kind, StreamKind::Book(BookKind::Diff { levels: 0 })),
                "bookTicker" => (kind, StreamKind::Top),
                "trade" => (kind, StreamKind::Trades),
                "aggTrade" => (kind, StreamKind::AggTrades),
                "markPrice" | "markPrice@1s" => (kind, StreamKind::Mark),
                _ => (kind, StreamKind::Liquidations),
            };
            vec![(format!("{lower}@{suffix}"), k)]
        }
        Venue::BybitLinear => {
            let name = format!("{kind}.{}", symbol.as_str());
            match kind {
                "publicTrade" => vec![(name, StreamKind::Trades)],
                "tickers" => vec![(name.clone(), StreamKind::Top), (name, StreamKind::Mark)],
                "allLiquidation" => vec![(name, StreamKind::Liquidations)],
                _ => {
                    let levels = kind.strip_prefix("orderbook.").and_then(|l| l.parse().ok()).unwrap_or(0);
                    vec![(name, StreamKind::Book(BookKind::Diff { levels }))]
                }
            }
        }
    }
}

/// Instruments of the configured symbols: the venue's metadata, the
/// configured TOML overriding; an unlisted symbol is an error naming it.
fn load_instruments(client: &mut SetupClient, cfg: &VenueConfig) -> Result<Vec<Instrument>, EngineError> {
    let venue = cfg.venue;
    let fees = FeeSchedule::default_for(venue);
    let mut listed = InstrumentTable::new();
    let source = match venue {
        Venue::BinanceUsdm => {
            let body = client.get("exchangeInfo", crate::venue::binance::rest::EXCHANGE_INFO_PATH.as_bytes())?;
            let text = String::from_utf8_lossy(&body);
            listed.add_binance_exchange_info(&text, fees).map_err(|e| client.fail("exchangeInfo", e.to_string()))?;
            "GET /fapi/v1/exchangeInfo"
        }
        Venue::BybitLinear => {
            let mut cursor: Option<String> = None;
            let mut target = [0u8; 512];
            for _ in 0..100 {
                let n = crate::venue::bybit::rest::instruments_info_target(cursor.as_deref(), &mut target)
                    .map_err(|e| client.fail("instruments-info", e.to_string()))?;
                let body = client.get("instruments-info", &target[..n])?;
                let text = String::from_utf8_lossy(&body);
                listed
                    .add_bybit_instruments_info(&text, fees)
                    .map_err(|e| client.fail("instruments-info", e.to_string()))?;
                cursor = crate::venue::bybit::rest::next_page_cursor(&body)
                    .map_err(|()| client.fail("instruments-info", "not an instruments-info answer"))?;
                if cursor.is_none() {
                    break;
                }
            }
            "GET /v5/market/instruments-info"
        }
    };
    let overrides = match &cfg.instruments {
        Some(path) => Some(InstrumentTable::from_toml_file(path)?),
        None => None,
    };
    let mut out = Vec::with_capacity(cfg.symbols.len());
    for s in &cfg.symbols {
        let from_toml = overrides.as_ref().and_then(|t| t.get(venue, s)).copied();
        let inst = from_toml.or_else(|| listed.get(venue, s).copied()).ok_or_else(|| EngineError::UnknownSymbol {
            symbol: s.to_string(),
            venue: venue.name().into(),
            source_name: source.into(),
        })?;
        out.push(inst);
    }
    Ok(out)
}

/// Estimates the venue clock offset (the best of three round trips).
fn sync_clock(client: &mut SetupClient, venue: Venue, clock: &VenueClock) -> Result<(), EngineError> {
    let target: &[u8] = match venue {
        Venue::BinanceUsdm => b"/fapi/v1/time",
        Venue::BybitLinear => b"/v5/market/time",
    };
    let mut best: Option<(i64, i64, i64)> = None;
    for _ in 0..3 {
        let (status, body, sent, recv) = client.request("server time", "GET", target, &[])?;
        if status != 200 {
            return Err(client.fail("server time", format!("HTTP {status}")));
        }
        let server = server_time_ms(venue, &body).ok_or_else(|| client.fail("server time", "no time in the answer"))?;
        if best.is_none_or(|(s, r, _)| recv - sent < r - s) {
            best = Some((sent, recv, server));
        }
    }
    if let Some((sent, recv, server)) = best {
        clock.observe(server, sent, recv);
    }
    Ok(())
}

/// Creates the Binance listenKey.
fn create_listen_key(client: &mut SetupClient, signer: &Signer, insts: &[Instrument]) -> Result<String, EngineError> {
    let mut bufs = RestBuffers::default();
    let job = Job::ListenKey(crate::venue::binance::rest::ListenKeyOp::Create);
    let req = bufs
        .encode(Venue::BinanceUsdm, Some(signer), insts, &job, Price::ZERO, 0, 0, 0)
        .map_err(|e| client.fail("listenKey", e.to_string()))?;
    let headers: Vec<(&str, &[u8])> = req.headers().to_vec();
    let (status, body, _, _) = client.request("listenKey", req.method, req.target, &headers)?;
    if status != 200 {
        return Err(client
            .fail("listenKey", format!("HTTP {status}: {}", String::from_utf8_lossy(&body[..body.len().min(300)]))));
    }
    let key =
        crate::venue::binance::rest::parse_listen_key(&body).map_err(|e| client.fail("listenKey", e.to_string()))?;
    Ok(key.as_str().to_owned())
}

/// Sets each instrument's leverage on its venue (the profile's `[leverage]`:
/// `Strategy::venue_leverage`), one signed request per symbol, and checks
/// the answer: Binance `POST /fapi/v1/leverage` must answer the leverage
/// asked for; Bybit `POST /v5/position/set-leverage` must answer `retCode`
/// 0 or 110043 (already that value). Any other answer fails the start,
/// naming the symbol: trading at a leverage the profile did not size for is
/// not an option. Returns the leverage set, by instrument.
fn set_leverage(
    client: &mut SetupClient,
    signer: &Signer,
    clock: &VenueClock,
    venue: Venue,
    insts: &[Instrument],
    profile: &Profile,
) -> Result<Vec<u8>, EngineError> {
    let mut bufs = RestBuffers::default();
    let mut set = Vec::with_capacity(insts.len());
    for (i, inst) in insts.iter().enumerate() {
        let leverage = profile.strategy.leverage.venue_leverage(inst);
        let what = format!("set leverage {leverage}x on {}", inst.symbol);
        let job = Job::SetLeverage { inst: InstrumentId(u16::try_from(i).unwrap_or(u16::MAX)), leverage };
        let ts = clock.venue_ms(wall_ns() / 1_000_000);
        let req = bufs
            .encode(venue, Some(signer), insts, &job, Price::ZERO, 0, 0, ts)
            .map_err(|e| client.fail(&what, e.to_string()))?;
        let headers: Vec<(&str, &[u8])> = req.headers().to_vec();
        let (status, body, _, _) = client.request_with_body(&what, req.method, req.target, &headers, req.body)?;
        let answer = || String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned();
        if status != 200 {
            return Err(client.fail(&what, format!("HTTP {status}: {}", answer())));
        }
        match venue {
            Venue::BinanceUsdm => {
                let got = crate::venue::binance::order::parse_leverage_response(&body, &inst.symbol)
                    .map_err(|e| client.fail(&what, format!("{e}: {}", answer())))?;
                if got != leverage {
                    return Err(client.fail(&what, format!("the venue answered {got}x: {}", answer())));
                }
            }
            Venue::BybitLinear => crate::venue::bybit::order::parse_set_leverage_response(&body)
                .map_err(|e| client.fail(&what, format!("{e}: {}", answer())))?,
        }
        set.push(leverage);
    }
    Ok(set)
}

fn replace_start(path: &Path, start_secs: u64) -> PathBuf {
    PathBuf::from(path.to_string_lossy().replace("{start}", &start_secs.to_string()))
}

/// The connections of every venue (module docs of `engine`).
fn plan(
    config: &LiveConfig,
    venues: &mut [VenueSetup],
    endpoints: &[Endpoints],
    table: &InstrumentTable,
) -> Result<(Vec<ConnPlan>, Vec<FileEntry>), EngineError> {
    let mut plan: Vec<ConnPlan> = Vec::new();
    let mut files: Vec<FileEntry> = Vec::new();
    let mut feeds = 0u16;
    let id_of = |venue: Venue, s: &Symbol| -> InstrumentId {
        InstrumentId(table.all().iter().position(|i| i.venue == venue && i.symbol == *s).unwrap_or(0) as u16)
    };
    for (vi, v) in venues.iter_mut().enumerate() {
        let venue = v.cfg.venue;
        let ep = &endpoints[vi];
        let vname = match venue {
            Venue::BinanceUsdm => "binance",
            Venue::BybitLinear => "bybit",
        };
        for (g, group) in v.cfg.symbols.chunks(v.cfg.symbols_per_connection).enumerate() {
            let mut routes: Vec<(Route, Subscriptions, Vec<(InstrumentId, StreamKind)>)> = Vec::new();
            for s in group {
                for kind in &v.cfg.streams {
                    for (name, k) in stream_of(venue, kind, s) {
                        let route = if venue == Venue::BinanceUsdm { binance_route(&name) } else { Route::Public };
                        let i = match routes.iter().position(|(r, _, _)| *r == route) {
                            Some(i) => i,
                            None => {
                                routes.push((route, Subscriptions::new(venue), Vec::new()));
                                routes.len() - 1
                            }
                        };
                        routes[i].1.add(&name).map_err(|e| LoadError::new("venue.streams", e.to_string()))?;
                        routes[i].2.push((id_of(venue, s), k));
                    }
                }
            }
            routes.sort_by_key(|r| r.0);
            for (route, subs, bindings) in routes {
                let rname = match route {
                    Route::Public => "public",
                    Route::Market => "market",
                };
                let name = format!("{vname}-{rname}-{g}");
                let file = files.len() as u16;
                files.push(FileEntry {
                    name: format!("{name}.txt"),
                    venue,
                    role: rname.into(),
                    feed: Some(feeds),
                    source: None,
                });
                plan.push(ConnPlan {
                    venue: vi,
                    role: Role::Market,
                    name,
                    url: ep.market_url(route),
                    subs,
                    bindings,
                    feed: Some(feeds),
                    file: Some(file),
                });
                feeds += 1;
            }
        }
        let private = |plan: &mut Vec<ConnPlan>,
                       files: &mut Vec<FileEntry>,
                       role: Role,
                       name: &str,
                       url: Url,
                       subs: Subscriptions,
                       source: &str| {
            let file = files.len() as u16;
            files.push(FileEntry {
                name: format!("{vname}-{name}.txt"),
                venue,
                role: name.into(),
                feed: None,
                source: Some(source.into()),
            });
            plan.push(ConnPlan {
                venue: vi,
                role,
                name: format!("{vname}-{name}"),
                url,
                subs,
                bindings: Vec::new(),
                feed: None,
                file: Some(file),
            });
        };
        if let Some(signer) = &v.signer {
            match venue {
                Venue::BinanceUsdm => {
                    let key = v.listen_key.clone().unwrap_or_default();
                    private(
                        &mut plan,
                        &mut files,
                        Role::UserData,
                        "user-data",
                        ep.private_url(&key),
                        Subscriptions::new(venue),
                        "binance-user-data",
                    );
                }
                Venue::BybitLinear => {
                    let mut subs = Subscriptions::new(venue);
                    for topic in ["order", "execution", "position", "wallet"] {
                        subs.add(topic).map_err(|e| LoadError::new("venue", e.to_string()))?;
                    }
                    private(&mut plan, &mut files, Role::Private, "private", ep.private_url(""), subs, "bybit");
                }
            }
            if v.cfg.order_transport == OrderTransport::Ws {
                let source = if venue == Venue::BinanceUsdm { "binance-ws-api" } else { "bybit" };
                private(
                    &mut plan,
                    &mut files,
                    Role::Orders,
                    "orders",
                    ep.ws_api.clone(),
                    Subscriptions::new(venue),
                    source,
                );
            }
            let _ = signer;
        }
        plan.push(ConnPlan {
            venue: vi,
            role: Role::RestMarket,
            name: format!("{vname}-rest"),
            url: ep.rest.clone(),
            subs: Subscriptions::new(venue),
            bindings: Vec::new(),
            feed: None,
            file: None,
        });
        if v.signer.is_some() {
            plan.push(ConnPlan {
                venue: vi,
                role: Role::RestTrade,
                name: format!("{vname}-rest-trade"),
                url: ep.rest.clone(),
                subs: Subscriptions::new(venue),
                bindings: Vec::new(),
                feed: None,
                file: None,
            });
            let source = if venue == Venue::BinanceUsdm { "binance-rest" } else { "bybit-rest" };
            v.rest_file = Some(files.len() as u16);
            files.push(FileEntry {
                name: format!("{vname}-rest.txt"),
                venue,
                role: "rest".into(),
                feed: None,
                source: Some(source.into()),
            });
        }
        if config.dry_run {
            v.paper_file = Some(files.len() as u16);
            files.push(FileEntry {
                name: format!("{vname}-paper.txt"),
                venue,
                role: "paper".into(),
                feed: None,
                source: None,
            });
        }
    }
    Ok((plan, files))
}

/// [`super::Engine::start`].
pub(super) fn start(
    config: LiveConfig,
    stop: Arc<AtomicBool>,
    hooks: super::Hooks,
) -> Result<EngineHandle, EngineError> {
    let start_ns = wall_ns();
    let start_secs = start_ns / 1_000_000_000;
    let profile_text = std::fs::read_to_string(&config.profile)
        .map_err(|e| LoadError::new(config.profile.display().to_string(), e.to_string()))?;
    let mut profile = Profile::from_file(&config.profile)?;
    let (risk_text, journal_cfg) = match &config.risk_file {
        Some(path) => {
            let text =
                std::fs::read_to_string(path).map_err(|e| LoadError::new(path.display().to_string(), e.to_string()))?;
            let rf = RiskFile::from_toml_str(&text)
                .map_err(|e| LoadError::new(format!("{}: {}", path.display(), e.key), e.problem))?;
            profile.risk = rf.risk;
            (Some(text), rf.journal)
        }
        None => (None, JournalConfig::default()),
    };
    if profile.strategy.context.file.is_some() {
        return Err(LoadError::new(
            "context.file",
            "slow context inputs are not fed to the live engine yet: remove it from the profile for scalpel run",
        )
        .into());
    }
    let mut table = InstrumentTable::new();
    let mut venues = Vec::new();
    let mut endpoints = Vec::new();
    let mut venue_leverage = Vec::new();
    for vc in &config.venues {
        let ep = Endpoints::load(config.endpoints_file.as_deref(), vc.venue, config.network)?.with_overrides(
            vc.rest_url.as_deref(),
            vc.ws_url.as_deref(),
            vc.ws_api_url.as_deref(),
        )?;
        let tls = client_config(vc.ca_file.as_deref())?;
        let signer = if config.dry_run {
            None
        } else {
            let secrets = VenueSecrets::load(vc)?.ok_or_else(|| {
                LoadError::new("venue.api_key_env", format!("{}: keys are required to trade", vc.venue))
            })?;
            Some(Signer::new(vc.venue, secrets, vc.recv_window).ok_or_else(|| {
                LoadError::new(
                    "venue.ed25519_key_file",
                    format!("{}: this key type cannot sign for the venue", vc.venue),
                )
            })?)
        };
        let mut client = SetupClient::new(vc.venue, &ep.rest, &tls)?;
        let clock = VenueClock::default();
        sync_clock(&mut client, vc.venue, &clock)?;
        let insts = load_instruments(&mut client, vc)?;
        let listen_key = match (&signer, vc.venue) {
            (Some(s), Venue::BinanceUsdm) => Some(create_listen_key(&mut client, s, &insts)?),
            _ => None,
        };
        // Paper trading (no signer) sets nothing on the venue.
        if let Some(s) = &signer {
            let set = set_leverage(&mut client, s, &clock, vc.venue, &insts, &profile)?;
            venue_leverage.extend(insts.iter().zip(set).map(|(i, l)| (format!("{}:{}", i.venue.name(), i.symbol), l)));
        }
        for inst in &insts {
            table.insert(*inst)?;
        }
        venues.push(VenueSetup { cfg: vc.clone(), tls, signer, clock, listen_key, rest_file: None, paper_file: None });
        endpoints.push(ep);
    }
    profile.instruments = table.clone();
    // The Binance open-interest poll, for a profile whose open-interest
    // gate is on (Bybit's figure comes on its tickers stream).
    let poll_open_interest = profile.strategy.gates.open_interest.enabled
        && venues.iter().any(|v| v.cfg.venue == Venue::BinanceUsdm)
        && table.all().iter().any(|i| i.venue == Venue::BinanceUsdm);
    let (plan, files) = plan(&config, &mut venues, &endpoints, &table)?;
    let epoch = SessionEpoch(u32::try_from(start_secs).unwrap_or(u32::MAX));

    let journal_path = replace_start(&config.journal, start_secs);
    let writer = JournalWriter::create(&journal_path, table.all(), &journal_cfg, start_ns)?;
    let record_dir = config.record.as_deref().map(|d| replace_start(d, start_secs));
    let recorder = match &record_dir {
        Some(dir) => {
            let feeds = plan
                .iter()
                .filter(|p| p.role == Role::Market)
                .map(|p| FeedEntry {
                    venue: venues[p.venue].cfg.venue,
                    bindings: p.bindings.iter().map(|(i, k)| BindingEntry::of(i.0, *k)).collect(),
                })
                .collect();
            let manifest = Manifest {
                format: super::recorder::FORMAT.into(),
                version: super::recorder::VERSION,
                epoch: epoch.0,
                dry_run: config.dry_run,
                started_unix_ns: start_ns,
                profile_text,
                profile_dir: config.profile.parent().map_or_else(|| ".".into(), |p| p.display().to_string()),
                risk_text,
                instruments_toml: instruments_toml(table.all()),
                files,
                feeds,
            };
            Some(Recorder::start(dir, &manifest).map_err(EngineError::Recorder)?)
        }
        None => None,
    };

    // Rings and threads.
    let (to_risk, risk_in) = crate::ring::lossless::<RiskInput>(1 << 16, 3 << 14);
    let (commands, from_risk) = crate::ring::lossless::<RiskCommand>(1024, 1024);
    // The risk thread's records travel as they are (~100 bytes a slot) and
    // become journal records on the journal thread: a journal record can
    // hold an entry's whole signal vector (~420 bytes).
    let (journal_tx, journal_rx) = crate::ring::lossless::<RiskRecord>(1 << 16, 1 << 16);
    let (telemetry, telemetry_rx) =
        crate::ring::lossy::<crate::journal::thread::Telemetry>(journal_cfg.telemetry_ring_capacity.max(1024) as usize);
    let (contexts, contexts_rx) =
        crate::ring::lossy::<crate::journal::thread::OrderContext>(crate::journal::thread::CONTEXT_RING_CAPACITY);
    let (events_tx, events_rx) = crate::ring::lossy::<EngineEvent>(4096);
    let journal_stop = Arc::new(AtomicBool::new(false));
    // The journal publishes its latency quantiles for the metrics server.
    let board = config.metrics.map(|_| Arc::new(crate::journal::thread::LatencyBoard::default()));
    let journal = crate::journal::thread::spawn_with_board(
        writer,
        crate::journal::thread::JournalThreadIo {
            records: journal_rx,
            telemetry: telemetry_rx,
            contexts: Some(contexts_rx),
        },
        journal_cfg,
        crate::journal::thread::wall_clock_ns,
        Arc::clone(&journal_stop),
        board.clone(),
    )
    .map_err(|e| EngineError::Thread(format!("journal thread: {e}")))?;
    let risk_cell = Arc::new(VerdictCell::new());
    let monitor = RiskMonitor::new(profile.risk.clone(), table.all(), (start_ns / 1_000_000) as i64);
    let kill = crate::risk::thread::KillSwitch::new(profile.risk.kill_switch_file.clone());
    let risk = crate::risk::thread::spawn(
        monitor,
        crate::risk::thread::RiskThreadIo {
            input: risk_in,
            commands,
            journal: journal_tx,
            verdict: Arc::clone(&risk_cell),
        },
        kill,
        crate::risk::thread::wall_clock_ms,
    )
    .map_err(|e| EngineError::Thread(format!("risk thread: {e}")))?;

    // The poll starts once the hot thread is ready (below); its figures
    // wait in the ring until then.
    let (open_interest_poll, open_interest) = match venues.iter().position(|v| v.cfg.venue == Venue::BinanceUsdm) {
        Some(v) if poll_open_interest => {
            let polled: Vec<super::open_interest::Polled> = table
                .all()
                .iter()
                .enumerate()
                .filter(|(_, i)| i.venue == Venue::BinanceUsdm)
                .map(|(k, i)| (InstrumentId(u16::try_from(k).unwrap_or(u16::MAX)), i.symbol, i.qty_scale))
                .collect();
            let (tx, rx) = crate::ring::lossy(256);
            let rest = endpoints[v].rest.clone();
            (Some((rest, Arc::clone(&venues[v].tls), polled, config.open_interest_poll_ms, tx)), Some(rx))
        }
        _ => (None, None),
    };
    let stats = Arc::new(SharedStats::new(plan.len(), table.all().len()));
    let conn_names: Vec<String> = plan.iter().map(|p| p.name.clone()).collect();
    let inst_names: Vec<String> = table.all().iter().map(|i| format!("{}:{}", i.venue.name(), i.symbol)).collect();
    let metrics = match (config.metrics, board) {
        (Some(listen), Some(board)) => Some(
            super::metrics::MetricsServer::start(
                listen,
                Arc::clone(&stats),
                (conn_names.clone(), inst_names.clone()),
                board,
                Arc::clone(&stop),
            )
            .map_err(|e| LoadError::new("metrics.listen", format!("{listen}: {e}")))?,
        ),
        _ => None,
    };
    let info = EngineInfo {
        conns: conn_names,
        instruments: table.all().to_vec(),
        instrument_names: inst_names,
        journal: journal_path,
        record: record_dir,
        epoch: epoch.0,
        dry_run: config.dry_run,
        pinning: None,
        venue_leverage,
        metrics: metrics.as_ref().map(super::metrics::MetricsServer::addr),
    };
    let setup = HotSetup {
        config,
        profile,
        table,
        venues,
        plan,
        epoch,
        to_risk,
        from_risk,
        risk_cell,
        telemetry,
        contexts,
        stats: Arc::clone(&stats),
        events: events_tx,
        stop: Arc::clone(&stop),
        recorder,
        hooks,
        open_interest,
    };
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<Option<String>, String>>();
    let hot = std::thread::Builder::new()
        .name("hot".into())
        .spawn(move || super::hot::run(setup, ready_tx))
        .map_err(|e| EngineError::Thread(format!("hot thread: {e}")))?;
    let mut handle = EngineHandle {
        info,
        stop,
        stats,
        events: events_rx,
        hot: Some(hot),
        risk: Some(risk),
        journal: Some(journal),
        open_interest: None,
        metrics,
    };
    match ready_rx.recv() {
        Ok(Ok(pinning)) => {
            handle.info.pinning = pinning;
            if let Some((rest, tls, polled, poll_ms, tx)) = open_interest_poll {
                // On an error the handle is dropped, which stops the engine.
                handle.open_interest = Some(
                    super::open_interest::spawn(rest, tls, polled, poll_ms, Arc::clone(&handle.stop), tx)
                        .map_err(|e| EngineError::Thread(format!("open-interest thread: {e}")))?,
                );
            }
            Ok(handle)
        }
        Ok(Err(_)) | Err(_) => {
            // The hot thread ended during its set-up: its error is the answer;
            // the risk and journal threads end with it.
            let err = match handle.hot.take().map(std::thread::JoinHandle::join) {
                Some(Ok(Err(e))) => e,
                _ => EngineError::Thread("the hot thread failed to start".into()),
            };
            let _ = handle.risk.take().map(std::thread::JoinHandle::join);
            let _ = handle.journal.take().map(std::thread::JoinHandle::join);
            Err(err)
        }
    }
}
