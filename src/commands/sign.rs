//! `scalpel sign`: print exactly the signed request an order would produce,
//! so it can be checked by eye or replayed with curl / websocat.
//!
//! Output format:
//! - REST: `METHOD PATH[?QUERY]` (the query is printed when the venue signs
//!   it: Binance), then one `Header: value` line per header, a blank line,
//!   then the body (nothing when empty).
//! - WebSocket: the request's JSON text on one line; for Bybit's trade
//!   WebSocket, first the `auth` message line (expiring at
//!   `timestamp + recv-window`), then the order line.
//!
//! The API secret is read from the environment variable named by
//! `--secret-env`, keyed into HMAC once and never printed; a missing or
//! empty variable is an error naming the variable. Binance Ed25519 keys
//! come from `--ed25519-key FILE` (PKCS#8 PEM, readable by its owner only):
//! REST requests carry a base64 signature; over the WebSocket API the
//! output is the `session.logon` line, then the order as it is sent on a
//! logged-on connection (no apiKey, no signature). The order goes through
//! the same encoders and pre-signing checks as the engine (rounding to
//! tick/step in the safe direction, min/max quantity, min notional), with
//! instruments from `--instruments` (TOML, or the venue's metadata JSON;
//! default: the built-in copy of `tuning/instruments.toml`).
//!
//! Signing is a trading path: a symbol without an instrument is refused
//! with one line naming the symbol and `--instruments`, never guessed; a
//! refused order is explained in the user's decimals (`--qty 0.0005`), not
//! in mantissas.

use std::io::Write;
use std::path::PathBuf;

use crate::fixed::{FixedError, Price, Qty, Round, parse_decimal};
use crate::instrument::{Instrument, InstrumentTable, LoadError, Symbol};
use crate::order::ids::{RequestOp, RequestTag};
use crate::order::prepare::OrderCheckError;
use crate::order::{ClientOrderId, OrderKind, OrderRequest, TimeInForce};
use crate::side::Side;
use crate::venue::Venue;
use crate::venue::binance::order::{BinanceKeyKind, BinanceOrderEncoder};
use crate::venue::bybit::order::BybitOrderEncoder;
use crate::venue::credentials::{ApiKey, Credentials, CredentialsError, Ed25519Key};
use crate::venue::signed_request::{BadRecvWindow, EncodeError, RecvWindow, RestRequest};

/// Request transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Transport {
    /// HTTPS REST API.
    Rest,
    /// WebSocket order entry (Binance WS API, Bybit trade WebSocket).
    Ws,
}

/// Order side as typed on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SideArg {
    /// Buy.
    #[value(name = "BUY")]
    Buy,
    /// Sell.
    #[value(name = "SELL")]
    Sell,
}

/// Order type as typed on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TypeArg {
    /// Limit order.
    #[value(name = "LIMIT")]
    Limit,
    /// Market order.
    #[value(name = "MARKET")]
    Market,
}

/// Time in force as typed on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TifArg {
    /// Good till cancelled.
    #[value(name = "GTC")]
    Gtc,
    /// Immediate or cancel.
    #[value(name = "IOC")]
    Ioc,
    /// Post-only (Binance GTX, Bybit PostOnly).
    #[value(name = "GTX")]
    Gtx,
}

/// Arguments of `scalpel sign`.
#[derive(Debug, Clone, clap::Args)]
pub struct SignArgs {
    /// Venue: binance-usdm or bybit-linear.
    #[arg(long)]
    pub venue: Venue,
    /// rest or ws.
    #[arg(long, value_enum)]
    pub transport: Transport,
    /// API key id (sent in clear).
    #[arg(long)]
    pub api_key: String,
    /// Name of the environment variable holding the API secret (HMAC keys).
    #[arg(long, required_unless_present = "ed25519_key")]
    pub secret_env: Option<String>,
    /// Binance Ed25519 private key file (PKCS#8 PEM, owner-only permissions)
    /// instead of an HMAC secret.
    #[arg(long, conflicts_with = "secret_env")]
    pub ed25519_key: Option<PathBuf>,
    /// Request timestamp, milliseconds since the epoch.
    #[arg(long)]
    pub timestamp: u64,
    /// Receive window, milliseconds (1..=60000).
    #[arg(long, default_value_t = 5000)]
    pub recv_window: u32,
    /// Symbol, e.g. BTCUSDT.
    #[arg(long)]
    pub symbol: Symbol,
    /// BUY or SELL.
    #[arg(long, value_enum)]
    pub side: SideArg,
    /// LIMIT or MARKET.
    #[arg(long = "type", value_enum)]
    pub order_type: TypeArg,
    /// Quantity in base units (decimal text).
    #[arg(long)]
    pub qty: String,
    /// Limit price; for MARKET orders the reference price used for the
    /// min-notional check (not sent).
    #[arg(long)]
    pub price: Option<String>,
    /// Time in force for LIMIT orders: GTC, IOC or GTX (post-only).
    #[arg(long, value_enum, default_value = "GTC")]
    pub tif: TifArg,
    /// Reduce-only order.
    #[arg(long)]
    pub reduce_only: bool,
    /// Engine sequence number of the order, sent as `scalpel-<ID>`
    /// (default: the timestamp).
    #[arg(long)]
    pub client_id: Option<u64>,
    /// Instruments: TOML like tuning/instruments.toml, or the venue's metadata JSON
    /// (Binance exchangeInfo, Bybit instruments-info). Default: the built-in table.
    #[arg(long)]
    pub instruments: Option<PathBuf>,
}

/// Why `scalpel sign` failed.
///
/// # Errors
/// Returned by [`run`]; the messages never contain the secret.
#[derive(Debug, thiserror::Error)]
pub enum SignCommandError {
    /// The secret's environment variable is not set or not valid text.
    #[error("environment variable {0} is not set (it must hold the API secret)")]
    MissingSecret(String),
    /// The credentials are malformed.
    #[error("{}: {inner}", credential_option(inner))]
    Credentials {
        /// What is wrong.
        #[from]
        inner: CredentialsError,
    },
    /// Bad receive window.
    #[error("--recv-window: {0}")]
    RecvWindow(#[from] BadRecvWindow),
    /// Instruments file problem.
    #[error("--instruments {0}")]
    Instruments(#[from] LoadError),
    /// The symbol is not in the instruments for this venue.
    #[error(
        "--symbol {symbol}: no {venue} instrument for it in {origin}; signing never guesses one: \
         pass --instruments FILE (TOML, or the venue's exchangeInfo / instruments-info JSON) that lists it"
    )]
    UnknownInstrument {
        /// Venue.
        venue: Venue,
        /// Symbol.
        symbol: Symbol,
        /// Where the instruments came from.
        origin: String,
    },
    /// The order fails a pre-signing check; said in the user's decimals.
    #[error("{0}")]
    Refused(String),
    /// A decimal argument could not be represented at the instrument's scale.
    #[error("--{arg} {text:?}: {problem} (instrument scale {scale})")]
    Decimal {
        /// Argument name.
        arg: &'static str,
        /// Text given.
        text: String,
        /// What is wrong.
        problem: FixedError,
        /// Scale of the instrument for that value.
        scale: u8,
    },
    /// A LIMIT order needs `--price`.
    #[error("--price is required for LIMIT orders (and for MARKET orders as the min-notional reference price)")]
    MissingPrice,
    /// The order was refused or could not be encoded.
    #[error(transparent)]
    Encode(#[from] EncodeError),
    /// Writing the output failed.
    #[error("writing output: {0}")]
    Io(#[from] std::io::Error),
    /// The Ed25519 key file could not be used.
    #[error("--ed25519-key {path}: {problem}")]
    Ed25519Key {
        /// The file.
        path: String,
        /// What is wrong (never its content).
        problem: String,
    },
    /// Ed25519 keys are a Binance feature.
    #[error("--ed25519-key is for binance-usdm only (Bybit signs with HMAC)")]
    Ed25519NotForVenue,
}

/// The key that signs: an HMAC secret or a Binance Ed25519 key.
pub enum SigningKey {
    /// HMAC-SHA256 secret bytes.
    Hmac(Vec<u8>),
    /// Ed25519 private key.
    Ed25519(Ed25519Key),
}

/// Reads an Ed25519 PKCS#8 PEM key from a file that only its owner can read.
///
/// # Errors
/// [`SignCommandError::Ed25519Key`] (group/other permissions, unreadable, not a key).
pub fn read_ed25519_key(path: &std::path::Path) -> Result<Ed25519Key, SignCommandError> {
    let err = |problem: String| SignCommandError::Ed25519Key { path: path.display().to_string(), problem };
    let meta = std::fs::metadata(path).map_err(|e| err(e.to_string()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = meta.permissions().mode();
        if mode & 0o077 != 0 {
            return Err(err(format!("readable by others (mode {:o}); chmod 600 it", mode & 0o777)));
        }
    }
    let _ = meta;
    let pem = std::fs::read(path).map_err(|e| err(e.to_string()))?;
    Ed25519Key::from_pkcs8_pem(&pem).map_err(|e| err(e.to_string()))
}

fn credential_option(e: &CredentialsError) -> &'static str {
    match e {
        CredentialsError::ApiKey(_) => "--api-key",
        CredentialsError::Secret(_) => "--secret-env",
    }
}

/// Runs `scalpel sign`, reading the secret from the process environment.
///
/// # Errors
/// [`SignCommandError`] as documented on each variant.
pub fn run(args: &SignArgs, out: &mut impl Write) -> Result<(), SignCommandError> {
    let key = match (&args.ed25519_key, &args.secret_env) {
        (Some(path), _) => SigningKey::Ed25519(read_ed25519_key(path)?),
        (None, Some(var)) => SigningKey::Hmac(
            std::env::var(var)
                .ok()
                .filter(|s| !s.is_empty())
                .ok_or_else(|| SignCommandError::MissingSecret(var.clone()))?
                .into_bytes(),
        ),
        (None, None) => return Err(SignCommandError::MissingSecret("(no --secret-env given)".into())),
    };
    let instruments = super::instruments::load_noting(args.instruments.as_deref(), args.venue, &mut std::io::stderr())?;
    sign_with(args, &key, &instruments, out)
}

/// Parses decimal text at `scale`, rounding digits beyond the scale in
/// direction `dir` (the engine's safe direction: quantity and buy price
/// down, sell price up); the order encoders then round to tick and step.
fn decimal(arg: &'static str, text: &str, scale: u8, dir: Round) -> Result<i64, SignCommandError> {
    let err = |problem| SignCommandError::Decimal { arg, text: text.to_owned(), problem, scale };
    let (kept, dropped) = match text.split_once('.') {
        Some((int, frac)) if frac.len() > usize::from(scale) => {
            let cut = int.len() + 1 + usize::from(scale);
            let kept = if scale == 0 { int } else { &text[..cut] };
            (kept, &text[cut..])
        }
        _ => (text, ""),
    };
    if !dropped.bytes().all(|b| b.is_ascii_digit()) {
        return Err(err(FixedError::InvalidChar));
    }
    let value = parse_decimal(kept.as_bytes(), scale, false).map_err(err)?;
    if dir == Round::Up && dropped.bytes().any(|b| b != b'0') {
        return value.checked_add(1).ok_or(err(FixedError::Overflow));
    }
    Ok(value)
}

/// Builds, signs and prints the request with an explicit HMAC secret and
/// instrument table (the testable core of [`run`]).
///
/// # Errors
/// [`SignCommandError`].
pub fn sign_to(
    args: &SignArgs,
    secret: &[u8],
    instruments: &InstrumentTable,
    out: &mut impl Write,
) -> Result<(), SignCommandError> {
    sign_with(args, &SigningKey::Hmac(secret.to_vec()), instruments, out)
}

/// [`sign_to`] with either key type.
///
/// # Errors
/// [`SignCommandError`].
pub fn sign_with(
    args: &SignArgs,
    key: &SigningKey,
    instruments: &InstrumentTable,
    out: &mut impl Write,
) -> Result<(), SignCommandError> {
    let recv = RecvWindow::new(args.recv_window)?;
    let (creds, ed25519) = match key {
        SigningKey::Hmac(secret) => (Some(Credentials::new(args.api_key.as_bytes(), secret)?), None),
        SigningKey::Ed25519(k) => {
            if args.venue != Venue::BinanceUsdm {
                return Err(SignCommandError::Ed25519NotForVenue);
            }
            let api_key = ApiKey::new(args.api_key.as_bytes()).map_err(CredentialsError::from)?;
            (None, Some(BinanceOrderEncoder::with_ed25519(api_key, k.clone(), recv)))
        }
    };
    let binance = |creds: &Option<Credentials>| match (&ed25519, creds) {
        (Some(enc), _) => enc.clone(),
        (None, Some(c)) => BinanceOrderEncoder::new(c.clone(), recv),
        (None, None) => unreachable!("one key type is always present"),
    };
    let instrument = instruments.get(args.venue, &args.symbol).ok_or_else(|| SignCommandError::UnknownInstrument {
        venue: args.venue,
        symbol: args.symbol,
        origin: args
            .instruments
            .as_ref()
            .map_or_else(|| "the built-in instrument table".to_owned(), |p| p.display().to_string()),
    })?;
    let qty = Qty(decimal("qty", &args.qty, instrument.qty_scale, Round::Down)?);
    let price_dir = match args.side {
        SideArg::Buy => Round::Down,
        SideArg::Sell => Round::Up,
    };
    let price = match &args.price {
        Some(text) => Price(decimal("price", text, instrument.price_scale, price_dir)?),
        None => return Err(SignCommandError::MissingPrice),
    };
    let kind = match args.order_type {
        TypeArg::Limit => OrderKind::Limit,
        TypeArg::Market => OrderKind::Market,
    };
    let order = OrderRequest {
        venue: args.venue,
        symbol: args.symbol,
        side: match args.side {
            SideArg::Buy => Side::Buy,
            SideArg::Sell => Side::Sell,
        },
        kind,
        tif: match args.tif {
            TifArg::Gtc => TimeInForce::Gtc,
            TifArg::Ioc => TimeInForce::Ioc,
            TifArg::Gtx => TimeInForce::PostOnly,
        },
        price: if kind == OrderKind::Limit { price } else { Price::ZERO },
        qty,
        reduce_only: args.reduce_only,
        client_id: ClientOrderId(args.client_id.unwrap_or(args.timestamp)),
    };
    let tag = RequestTag::new(RequestOp::Place, order.client_id);
    let mut buf = [0u8; 4096];
    let refused = |e: EncodeError| explain(e, args, instrument);
    match (args.venue, args.transport) {
        (Venue::BinanceUsdm, Transport::Rest) => {
            let enc = binance(&creds);
            let signed = enc.rest_new_order(&order, instrument, price, args.timestamp, &mut buf).map_err(refused)?;
            print_rest(&signed.request, out)?;
        }
        (Venue::BinanceUsdm, Transport::Ws) => {
            let mut enc = binance(&creds);
            if enc.key_kind() == BinanceKeyKind::Ed25519 {
                // Check and encode the order first so a refused order prints nothing.
                let mut logon = [0u8; 1024];
                let auth_tag = RequestTag::new(RequestOp::Auth, order.client_id);
                let n = enc.ws_session_logon(auth_tag, args.timestamp, &mut logon)?;
                enc.set_ws_session(true)?;
                let request =
                    enc.ws_place(&order, instrument, price, tag, args.timestamp, &mut buf).map_err(refused)?.request;
                print_line(&logon[..n], out)?;
                print_line(request, out)?;
            } else {
                let signed = enc.ws_place(&order, instrument, price, tag, args.timestamp, &mut buf).map_err(refused)?;
                print_line(signed.request, out)?;
            }
        }
        (Venue::BybitLinear, Transport::Rest) => {
            let Some(creds) = creds else { return Err(SignCommandError::Ed25519NotForVenue) };
            let enc = BybitOrderEncoder::new(creds, recv);
            let signed = enc.rest_create(&order, instrument, price, args.timestamp, &mut buf).map_err(refused)?;
            print_rest(&signed.request, out)?;
        }
        (Venue::BybitLinear, Transport::Ws) => {
            let Some(creds) = creds else { return Err(SignCommandError::Ed25519NotForVenue) };
            let enc = BybitOrderEncoder::new(creds, recv);
            // Check and encode the order first so a refused order prints nothing.
            let mut order_buf = [0u8; 4096];
            let request =
                enc.ws_create(&order, instrument, price, tag, args.timestamp, &mut order_buf).map_err(refused)?.request;
            let expires = args.timestamp.saturating_add(u64::from(recv.ms()));
            let auth_tag = RequestTag::new(RequestOp::Auth, order.client_id);
            print_line(enc.ws_auth(auth_tag, expires, &mut buf)?, out)?;
            print_line(request, out)?;
        }
    }
    Ok(())
}

/// A refused order in the user's terms: the options they typed and decimals
/// at the instrument's scales, not mantissas.
fn explain(e: EncodeError, args: &SignArgs, inst: &Instrument) -> SignCommandError {
    let px = |p: Price| p.text(inst.price_scale);
    let qty = |q: Qty| q.text(inst.qty_scale);
    let what = format!("{} on {}", inst.symbol, inst.venue);
    let text = match e {
        EncodeError::Check(check) => match check {
            OrderCheckError::QtyBelowMin { qty: q, min } => format!(
                "--qty {}: {} after rounding down to the step {} is below min_qty {} of {what}",
                args.qty,
                qty(q),
                qty(inst.step),
                qty(min)
            ),
            OrderCheckError::QtyAboveMax { qty: q, max } => format!(
                "--qty {}: {} is above the maximum {} of {what} for this order type",
                args.qty,
                qty(q),
                qty(max)
            ),
            OrderCheckError::NotionalBelowMin => format!(
                "--qty {} at --price {}: the order's notional is below the minimum notional {} USDT of {what}",
                args.qty,
                args.price.as_deref().unwrap_or("?"),
                inst.min_notional
            ),
            OrderCheckError::NonPositivePrice => {
                format!(
                    "--price {}: a limit price must be positive ({} after rounding to the tick {})",
                    args.price.as_deref().unwrap_or("?"),
                    px(Price::ZERO),
                    px(inst.tick)
                )
            }
            other => format!("order refused before signing: {other}"),
        },
        other => other.to_string(),
    };
    SignCommandError::Refused(text)
}

fn print_line(text: &[u8], out: &mut impl Write) -> std::io::Result<()> {
    out.write_all(text)?;
    out.write_all(b"\n")
}

fn print_rest(req: &RestRequest<'_>, out: &mut impl Write) -> std::io::Result<()> {
    out.write_all(req.method.as_str().as_bytes())?;
    out.write_all(b" ")?;
    out.write_all(req.path.as_bytes())?;
    if !req.query.is_empty() {
        out.write_all(b"?")?;
        out.write_all(req.query)?;
    }
    out.write_all(b"\n")?;
    for header in req.headers() {
        out.write_all(header.name.as_bytes())?;
        out.write_all(b": ")?;
        out.write_all(header.value)?;
        out.write_all(b"\n")?;
    }
    out.write_all(b"\n")?;
    if !req.body.is_empty() {
        out.write_all(req.body)?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extra_decimals_round_in_the_safe_direction() {
        assert_eq!(decimal("qty", "0.0105", 3, Round::Down).unwrap(), 10);
        assert_eq!(decimal("price", "61800.271", 2, Round::Down).unwrap(), 6_180_027);
        assert_eq!(decimal("price", "61800.271", 2, Round::Up).unwrap(), 6_180_028);
        assert_eq!(decimal("price", "61800.2700", 2, Round::Up).unwrap(), 6_180_027);
        assert_eq!(decimal("price", "5.9", 0, Round::Up).unwrap(), 6);
        assert_eq!(decimal("price", "5.9", 0, Round::Down).unwrap(), 5);
        assert!(decimal("qty", "0.01x5", 2, Round::Down).is_err());
        assert!(decimal("qty", "1e3", 2, Round::Down).is_err());
        assert!(decimal("qty", "-1", 2, Round::Down).is_err());
    }
}
