//! permessage-deflate (RFC 7692): negotiation on both sides, compression with and without context
//! takeover, streaming bounded decompression, for the [`Extension`] hook.
//!
//! The engine is `flate2` with the pure-Rust `zlib-rs` backend: it honours every window size from
//! 9 to 15 bits for compression, which `miniz_oxide` cannot (its window is always 32 KiB), and it was
//! about twice as fast on our corpora (`docs/deflate.md`). A window of 8 bits (256 bytes) is refused
//! by every zlib (RFC 7692 §7.1.2.1 allows it): when the peer limits our window to 8 bits, we accept
//! and honour it by sending our messages uncompressed (a stream with no back-references obeys any
//! window), while still inflating the peer's.
//!
//! # Server
//!
//! ```no_run
//! use std::net::TcpListener;
//! use zerows_util::{Config, WebSocket};
//! use zerows_util::deflate::DeflateConfig;
//!
//! let listener = TcpListener::bind("127.0.0.1:9001")?;
//! let (stream, _) = listener.accept()?;
//! // negotiates permessage-deflate if the client offers it, with hooks of your own too
//! // (`accept_with_upgrader`): the connection negotiates its `Config`'s extension itself
//! let config = Config::default().deflate(DeflateConfig::default());
//! let ws = WebSocket::accept_with_config(stream, config)?;
//! println!("agreed: {:?}", ws.agreed().and_then(|a| a.extensions()));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Outside a connection's handshake (an upgrade inside hyper, say), wrap your hooks in
//! [`DeflateHooks`] and install what was agreed with
//! [`WebSocket::set_extension`](crate::WebSocket::set_extension).
//!
//! # Client
//!
//! [`WebSocket::connect_with_config`](crate::WebSocket::connect_with_config) with
//! [`Config::deflate`](crate::Config::deflate) adds the offer to the request and installs what the
//! server accepted.
//!
//! # Memory
//!
//! Per connection, measured with a counting allocator (`tests/deflate.rs` asserts them): the
//! compressor is created on the first compressed message and takes 245 KiB (9-bit window) to
//! 371 KiB (15-bit window, the default) — mostly zlib's hash tables, which do not shrink with the
//! window; the decompressor takes 47 KiB. Both are reused for every message; neither allocates per
//! message. Without context takeover they are reset, not freed.

use std::fmt::Write as _;

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};
use zerows_frame::{OpCode, Role, Rsv};
use zerows_upgrade::Request;
use zerows_upgrade::extensions::Extension as Offer;
use zerows_upgrade::server::{AcceptedExtensions, ExtensionOffers, HeaderWriter, Hooks, Protocols};

use crate::extension::{Extension, ExtensionError, MessageDecoder, MessageEncoder};

/// The extension's name.
pub const NAME: &str = "permessage-deflate";

/// The trailer a sync flush ends with, removed from each message and put back to inflate it
/// (RFC 7692 §7.2.1, §7.2.2).
const TAIL: [u8; 4] = [0x00, 0x00, 0xFF, 0xFF];

/// What we are willing to agree to. The defaults accept any valid offer and compress with
/// context takeover and a 15-bit window at zlib level 6, every message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeflateConfig {
    /// zlib compression level, 0–9. Default: 6.
    pub level: u32,
    /// Messages shorter than this are sent uncompressed (RFC 7692 §6 allows it). Default: 0,
    /// compress everything: some peers mishandle uncompressed messages on a compressed connection
    /// (kosoku 0.1.0's Autobahn 12.x.1 cases fail on an uncompressed 16-byte echo).
    pub min_size: usize,
    /// Our largest compression window in bits (9–15); a smaller one saves nothing with zlib's
    /// fixed hash tables but bounds the peer's inflate window. Default: 15.
    pub max_window_bits: u8,
    /// Do not keep the compression context between messages (saves nothing in zlib's state but
    /// lets the peer reset its inflater). As a server this answers `server_no_context_takeover`;
    /// as a client it offers `client_no_context_takeover`. Default: off.
    pub no_context_takeover: bool,
    /// Ask the peer not to keep its context between messages (server: answer
    /// `client_no_context_takeover`; client: offer `server_no_context_takeover`). Default: off.
    pub request_peer_no_context_takeover: bool,
}

impl Default for DeflateConfig {
    fn default() -> DeflateConfig {
        DeflateConfig {
            level: 6,
            min_size: 0,
            max_window_bits: 15,
            no_context_takeover: false,
            request_peer_no_context_takeover: false,
        }
    }
}

impl DeflateConfig {
    /// Sets [`level`](Self::level).
    #[must_use]
    pub fn level(mut self, level: u32) -> DeflateConfig {
        self.level = level.min(9);
        self
    }

    /// Sets [`min_size`](Self::min_size).
    #[must_use]
    pub fn min_size(mut self, bytes: usize) -> DeflateConfig {
        self.min_size = bytes;
        self
    }

    /// Sets [`max_window_bits`](Self::max_window_bits) (clamped to 9–15).
    #[must_use]
    pub fn max_window_bits(mut self, bits: u8) -> DeflateConfig {
        self.max_window_bits = bits.clamp(9, 15);
        self
    }

    /// Sets [`no_context_takeover`](Self::no_context_takeover).
    #[must_use]
    pub fn no_context_takeover(mut self, on: bool) -> DeflateConfig {
        self.no_context_takeover = on;
        self
    }

    /// Sets [`request_peer_no_context_takeover`](Self::request_peer_no_context_takeover).
    #[must_use]
    pub fn request_peer_no_context_takeover(mut self, on: bool) -> DeflateConfig {
        self.request_peer_no_context_takeover = on;
        self
    }
}

/// The parameters both ends agreed on (RFC 7692 §7.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeflateParams {
    /// The server resets its compressor after each message.
    pub server_no_context_takeover: bool,
    /// The client resets its compressor after each message.
    pub client_no_context_takeover: bool,
    /// The server's largest window (8–15).
    pub server_max_window_bits: u8,
    /// The client's largest window (8–15).
    pub client_max_window_bits: u8,
    /// Our compression level and size threshold (not negotiated).
    level: u32,
    min_size: usize,
}

impl DeflateParams {
    /// The extension for `role`: compress within our window and context rules, inflate the peer's.
    pub fn extension(&self, role: Role) -> Extension {
        let (ours_reset, ours_bits, peer_reset) = match role {
            Role::Server => (
                self.server_no_context_takeover,
                self.server_max_window_bits,
                self.client_no_context_takeover,
            ),
            Role::Client => (
                self.client_no_context_takeover,
                self.client_max_window_bits,
                self.server_no_context_takeover,
            ),
        };
        Extension::new(
            Rsv::RSV1,
            Box::new(Inflater::new(peer_reset)),
            Box::new(Deflater::new(
                self.level,
                ours_bits,
                ours_reset,
                self.min_size,
            )),
        )
    }

    /// The response header value a server sends for these parameters, written into `buf` (on the
    /// stack: the longest is well under 128 bytes).
    pub fn response<'b>(&self, buf: &'b mut [u8; 128]) -> &'b str {
        let mut w = StackStr { buf, len: 0 };
        let _ = w.write_str(NAME);
        if self.server_no_context_takeover {
            let _ = w.write_str("; server_no_context_takeover");
        }
        if self.client_no_context_takeover {
            let _ = w.write_str("; client_no_context_takeover");
        }
        if self.server_max_window_bits < 15 {
            let _ = write!(
                w,
                "; server_max_window_bits={}",
                self.server_max_window_bits
            );
        }
        let len = w.len;
        // only ASCII was written
        std::str::from_utf8(&buf[..len]).unwrap_or(NAME)
    }
}

/// A `fmt::Write` into a fixed buffer.
struct StackStr<'b> {
    buf: &'b mut [u8; 128],
    len: usize,
}

impl std::fmt::Write for StackStr<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        let dst = self.buf.get_mut(self.len..end).ok_or(std::fmt::Error)?;
        dst.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// The parameters of one offer or response, checked for RFC 7692 §7.1 validity: only the four
/// defined parameters, none twice, window sizes 8–15 (value required for `server_max_window_bits`,
/// optional for `client_max_window_bits` in an offer), no value on the takeover flags.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Parsed {
    server_no_context_takeover: bool,
    client_no_context_takeover: bool,
    server_max_window_bits: Option<u8>,
    /// `Some(None)`: present without a value.
    client_max_window_bits: Option<Option<u8>>,
}

fn parse(ext: &Offer<'_>) -> Option<Parsed> {
    if !ext.name().eq_ignore_ascii_case(NAME) {
        return None;
    }
    let mut p = Parsed::default();
    for param in ext.params() {
        let name = param.name();
        let value = param.value();
        let bits = |v: Option<zerows_upgrade::extensions::Value<'_>>| -> Option<u8> {
            let v = v?;
            // 1*DIGIT without leading zeros (RFC 7692 §7.1.2.1), compared after unescaping a
            // quoted-string (RFC 6455 §9.1: `"1\0"` is 10)
            if v.bytes().next() == Some(b'0') {
                return None;
            }
            let n = u8::try_from(v.as_u32()?).ok()?;
            (8..=15).contains(&n).then_some(n)
        };
        if name.eq_ignore_ascii_case("server_no_context_takeover") {
            if p.server_no_context_takeover || value.is_some() {
                return None;
            }
            p.server_no_context_takeover = true;
        } else if name.eq_ignore_ascii_case("client_no_context_takeover") {
            if p.client_no_context_takeover || value.is_some() {
                return None;
            }
            p.client_no_context_takeover = true;
        } else if name.eq_ignore_ascii_case("server_max_window_bits") {
            if p.server_max_window_bits.is_some() {
                return None;
            }
            p.server_max_window_bits = Some(bits(value)?);
        } else if name.eq_ignore_ascii_case("client_max_window_bits") {
            if p.client_max_window_bits.is_some() {
                return None;
            }
            p.client_max_window_bits = Some(match value {
                None => None,
                Some(_) => Some(bits(value)?),
            });
        } else {
            return None;
        }
    }
    Some(p)
}

/// Server side: picks the first acceptable permessage-deflate offer, in the client's order of
/// preference (RFC 7692 §5.1), and returns what is agreed. Offers that are malformed (unknown or
/// duplicate parameters, invalid values) are declined, as §7.1 requires; so is any offer we cannot
/// honour (none, since an 8-bit server window is honoured by not compressing).
pub fn negotiate<'a>(
    offers: impl IntoIterator<Item = Offer<'a>>,
    config: &DeflateConfig,
) -> Option<DeflateParams> {
    offers
        .into_iter()
        .filter_map(|o| parse(&o))
        .map(|p| {
            let server_bits = p
                .server_max_window_bits
                .unwrap_or(15)
                .min(config.max_window_bits);
            DeflateParams {
                server_no_context_takeover: p.server_no_context_takeover
                    || config.no_context_takeover,
                client_no_context_takeover: p.client_no_context_takeover
                    || config.request_peer_no_context_takeover,
                // we answer with the window we use when it is below 15
                server_max_window_bits: server_bits,
                // We inflate with a 15-bit window, so we never limit the client's window and never
                // send client_max_window_bits; a value in the offer is only the client's hint.
                client_max_window_bits: match p.client_max_window_bits {
                    Some(Some(n)) => n,
                    _ => 15,
                },
                level: config.level,
                min_size: config.min_size,
            }
        })
        .next()
}

/// Client side: the offer to send in `Sec-WebSocket-Extensions`.
pub fn client_offer(config: &DeflateConfig) -> String {
    let mut s = String::from(NAME);
    if config.no_context_takeover {
        s.push_str("; client_no_context_takeover");
    }
    if config.request_peer_no_context_takeover {
        s.push_str("; server_no_context_takeover");
    }
    if config.max_window_bits < 15 {
        let _ = write!(s, "; client_max_window_bits={}", config.max_window_bits);
    } else {
        // we can honour any window the server asks for (8 by not compressing)
        s.push_str("; client_max_window_bits");
    }
    s
}

/// Client side: checks the server's response to [`client_offer`] (RFC 7692 §7.1) and returns what
/// was agreed, `Ok(None)` if the server did not accept permessage-deflate, or an error if the
/// response is invalid (the client must then fail the connection).
pub fn client_accept<'a>(
    accepted: impl IntoIterator<Item = Offer<'a>>,
    config: &DeflateConfig,
) -> Result<Option<DeflateParams>, ExtensionError> {
    let mut found = None;
    for ext in accepted {
        if !ext.name().eq_ignore_ascii_case(NAME) {
            continue;
        }
        if found.is_some() {
            return Err(ExtensionError::NEGOTIATION); // accepted twice
        }
        let p = parse(&ext).ok_or(ExtensionError::NEGOTIATION)?;
        let client_bits = match p.client_max_window_bits {
            // a response must give a value, and only if we offered the parameter (we always do,
            // with or without a value); never above a value we offered
            Some(None) => return Err(ExtensionError::NEGOTIATION),
            Some(Some(n)) if n > config.max_window_bits => return Err(ExtensionError::NEGOTIATION),
            Some(Some(n)) => n,
            None => config.max_window_bits,
        };
        if config.request_peer_no_context_takeover && !p.server_no_context_takeover {
            // we asked for it and the server ignored it: allowed (RFC 7692 §7.1.1.1 lets the server
            // accept without it); we can inflate either way
        }
        found = Some(DeflateParams {
            server_no_context_takeover: p.server_no_context_takeover,
            client_no_context_takeover: p.client_no_context_takeover || config.no_context_takeover,
            server_max_window_bits: p.server_max_window_bits.unwrap_or(15),
            client_max_window_bits: client_bits,
            level: config.level,
            min_size: config.min_size,
        });
    }
    Ok(found)
}

impl ExtensionError {
    /// An invalid permessage-deflate negotiation response (1002; the connection fails).
    pub const NEGOTIATION: ExtensionError = ExtensionError {
        code: zerows_frame::CloseCode::PROTOCOL_ERROR,
        reason: "invalid permessage-deflate response",
    };
}

/// The compressing half.
#[derive(Debug)]
pub struct Deflater {
    /// Created on the first compressed message.
    compress: Option<Compress>,
    level: u32,
    /// `None`: the agreed window is 8 bits, which zlib cannot produce: send uncompressed.
    window_bits: Option<u8>,
    reset: bool,
    min_size: usize,
}

impl Deflater {
    fn new(level: u32, window_bits: u8, reset: bool, min_size: usize) -> Deflater {
        Deflater {
            compress: None,
            level,
            window_bits: (window_bits >= 9).then_some(window_bits.min(15)),
            reset,
            min_size,
        }
    }
}

impl MessageEncoder for Deflater {
    fn encode(
        &mut self,
        _opcode: OpCode,
        payload: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<Option<Rsv>, ExtensionError> {
        let Some(bits) = self.window_bits else {
            return Ok(None);
        };
        if payload.len() < self.min_size {
            return Ok(None);
        }
        let level = self.level;
        let c = self.compress.get_or_insert_with(|| {
            Compress::new_with_window_bits(Compression::new(level), false, bits)
        });
        let start_in = c.total_in();
        loop {
            // room for the whole output of a sync flush of what is left, plus headers
            let consumed = usize::try_from(c.total_in() - start_in).unwrap_or(usize::MAX);
            out.reserve(payload.len() - consumed + payload.len() / 1000 + 64);
            let before = out.len();
            c.compress_vec(&payload[consumed..], out, FlushCompress::Sync)
                .map_err(|_| ExtensionError::INTERNAL)?;
            let consumed = usize::try_from(c.total_in() - start_in).unwrap_or(usize::MAX);
            // done when all input is in and the flush left spare room (nothing more pending)
            if consumed == payload.len() && out.len() < out.capacity() && out.len() > before {
                break;
            }
            if consumed == payload.len() && out.len() == before {
                break;
            }
        }
        if out.ends_with(&TAIL) {
            out.truncate(out.len() - TAIL.len());
        }
        if out.is_empty() {
            // zlib emits nothing for a flush with no new input after a flush; the receiver appends
            // the 4-byte tail, which needs the block header bits before it: send the empty stored
            // block's first byte, as RFC 7692 §7.2.3.6 shows for an empty message.
            out.push(0x00);
        }
        if self.reset {
            c.reset();
        }
        Ok(Some(Rsv::RSV1))
    }
}

/// The inflating half: streaming, bounded by the message size limit.
#[derive(Debug)]
pub struct Inflater {
    /// A 15-bit window inflates any window the peer may use.
    decompress: Decompress,
    reset: bool,
    /// The peer ended its deflate stream (BFINAL): start a new one for the next message.
    ended: bool,
}

impl Inflater {
    fn new(reset: bool) -> Inflater {
        Inflater {
            decompress: Decompress::new_with_window_bits(false, 15),
            reset,
            ended: false,
        }
    }

    /// Inflates `input` into `out`, never growing `out` past `max_len`.
    fn inflate(
        &mut self,
        mut input: &[u8],
        out: &mut Vec<u8>,
        max_len: usize,
    ) -> Result<(), ExtensionError> {
        const STEP: usize = 16 << 10;
        loop {
            if out.len() == out.capacity() {
                if out.len() >= max_len {
                    // Full: is there more output? Probe with a one-byte buffer on the stack.
                    let mut probe = [0u8; 1];
                    let before_in = self.decompress.total_in();
                    let before_out = self.decompress.total_out();
                    let status = self
                        .decompress
                        .decompress(input, &mut probe, FlushDecompress::Sync)
                        .map_err(|_| ExtensionError::INVALID_DATA)?;
                    if self.decompress.total_out() > before_out {
                        return Err(ExtensionError::TOO_BIG);
                    }
                    let used = usize::try_from(self.decompress.total_in() - before_in).unwrap_or(0);
                    input = &input[used..];
                    if status == Status::StreamEnd {
                        self.ended = true;
                        return nothing_left(input);
                    }
                    if used == 0 {
                        return nothing_left(input);
                    }
                    continue;
                }
                // grow geometrically (no quadratic copying), never past the limit
                out.reserve_exact(STEP.max(out.len()).min(max_len - out.len()));
            }
            let before_in = self.decompress.total_in();
            let before_len = out.len();
            let result = self
                .decompress
                .decompress_vec(input, out, FlushDecompress::Sync);
            // A reused buffer (streaming reads) may have more spare room than the limit leaves:
            // output past the limit came first, so it is reported first, even when the data turned
            // out to be invalid further on in the same call.
            if out.len() > max_len {
                return Err(ExtensionError::TOO_BIG);
            }
            let status = result.map_err(|_| ExtensionError::INVALID_DATA)?;
            let used = usize::try_from(self.decompress.total_in() - before_in).unwrap_or(0);
            input = &input[used..];
            if status == Status::StreamEnd {
                self.ended = true;
                return nothing_left(input);
            }
            if out.len() < out.capacity() && input.is_empty() {
                // all input taken and the output not full: nothing more to produce now
                return Ok(());
            }
            if used == 0 && out.len() == before_len && out.len() < out.capacity() {
                return nothing_left(input);
            }
        }
    }
}

/// Input is never dropped: bytes zlib will not take — after the end of the deflate stream
/// (BFINAL, RFC 7692 §7.2.3.5), or when it makes no progress although it has input and room (which
/// a valid stream never causes) — are invalid data.
fn nothing_left(rest: &[u8]) -> Result<(), ExtensionError> {
    if rest.is_empty() {
        Ok(())
    } else {
        Err(ExtensionError::INVALID_DATA)
    }
}

impl MessageDecoder for Inflater {
    fn decode(
        &mut self,
        _rsv: Rsv,
        chunk: &[u8],
        last: bool,
        out: &mut Vec<u8>,
        max_len: usize,
    ) -> Result<(), ExtensionError> {
        // After a block with BFINAL set (RFC 7692 §7.2.3.5) the message may not carry more
        // data; the empty chunk of the final call is not data.
        if self.ended && !chunk.is_empty() {
            return Err(ExtensionError::INVALID_DATA);
        }
        self.inflate(chunk, out, max_len)?;
        if last {
            if !self.ended {
                self.inflate(&TAIL, out, max_len)?;
            }
            if self.reset || self.ended {
                self.decompress.reset(false);
                self.ended = false;
            }
        }
        Ok(())
    }
}

impl ExtensionError {
    /// The compressor failed (1011).
    pub const INTERNAL: ExtensionError = ExtensionError {
        code: zerows_frame::CloseCode::INTERNAL_ERROR,
        reason: "compression failed",
    };
}

impl crate::Config {
    /// Offers (client) or accepts (server) permessage-deflate with `deflate`: the same as
    /// [`Config::extension`](crate::Config::extension)`(deflate)`.
    #[must_use]
    pub fn deflate(self, deflate: DeflateConfig) -> crate::Config {
        self.extension(deflate)
    }
}

/// permessage-deflate as a negotiable extension (RFC 7692 §5, §7.1): what
/// [`Config::deflate`](crate::Config::deflate) installs.
impl crate::extension::Negotiate for DeflateConfig {
    fn name(&self) -> &'static str {
        NAME
    }

    fn offer(&self) -> String {
        client_offer(self)
    }

    fn accept(
        &self,
        accepted: ExtensionOffers<'_>,
    ) -> Result<Option<Extension>, crate::ExtensionError> {
        Ok(client_accept(accepted, self)?.map(|a| a.extension(Role::Client)))
    }

    fn respond(
        &self,
        offers: ExtensionOffers<'_>,
        response: &mut AcceptedExtensions,
    ) -> Option<Extension> {
        let agreed = negotiate(offers, self)?;
        let mut buf = [0u8; 128];
        response.push(agreed.response(&mut buf)).ok()?;
        Some(agreed.extension(Role::Server))
    }
}

/// Server hooks that negotiate permessage-deflate and delegate everything else to `H`.
#[derive(Debug)]
pub struct DeflateHooks<H> {
    inner: H,
    config: DeflateConfig,
    agreed: Option<DeflateParams>,
}

impl<H> DeflateHooks<H> {
    /// Wraps `inner`.
    pub fn new(inner: H, config: DeflateConfig) -> DeflateHooks<H> {
        DeflateHooks {
            inner,
            config,
            agreed: None,
        }
    }

    /// What the last handshake agreed, if permessage-deflate was accepted (taken: the next
    /// handshake starts afresh).
    pub fn take_agreed(&mut self) -> Option<DeflateParams> {
        self.agreed.take()
    }

    /// The wrapped hooks.
    pub fn inner_mut(&mut self) -> &mut H {
        &mut self.inner
    }
}

impl<H: Hooks> Hooks for DeflateHooks<H> {
    fn on_request(&mut self, target: &str) -> zerows_upgrade::server::HookResult {
        self.agreed = None;
        self.inner.on_request(target)
    }
    fn on_host(&mut self, host: &[u8]) -> zerows_upgrade::server::HookResult {
        self.inner.on_host(host)
    }
    fn on_header(&mut self, name: &str, value: &[u8]) -> zerows_upgrade::server::HookResult {
        self.inner.on_header(name, value)
    }
    fn check_origin(
        &mut self,
        origin: Option<&[u8]>,
        host: &[u8],
    ) -> zerows_upgrade::server::HookResult {
        self.inner.check_origin(origin, host)
    }
    fn select_protocol<'b>(&mut self, offered: Protocols<'b>) -> Option<&'b str> {
        self.inner.select_protocol(offered)
    }
    fn negotiate_extensions(
        &mut self,
        offered: ExtensionOffers<'_>,
        accepted: &mut AcceptedExtensions,
    ) -> zerows_upgrade::server::HookResult {
        if let Some(agreed) = negotiate(offered.clone(), &self.config) {
            let mut buf = [0u8; 128];
            if accepted.push(agreed.response(&mut buf)).is_ok() {
                self.agreed = Some(agreed);
            }
        }
        self.inner.negotiate_extensions(offered, accepted)
    }
    fn before_upgrade(
        &mut self,
        request: &Request<'_>,
        protocol: Option<&str>,
    ) -> zerows_upgrade::server::HookResult {
        self.inner.before_upgrade(request, protocol)
    }
    fn response_headers(&mut self, out: &mut HeaderWriter<'_>) {
        self.inner.response_headers(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round(d: &mut Deflater, i: &mut Inflater, msg: &[u8]) -> Vec<u8> {
        let mut wire = Vec::new();
        let rsv = d.encode(OpCode::Binary, msg, &mut wire).unwrap();
        assert_eq!(rsv, Some(Rsv::RSV1));
        let mut out = Vec::new();
        i.decode(Rsv::RSV1, &wire, false, &mut out, usize::MAX)
            .unwrap_or_else(|e| panic!("{e} on {wire:x?}"));
        i.decode(Rsv::RSV1, &[], true, &mut out, usize::MAX)
            .unwrap_or_else(|e| panic!("{e} on tail after {wire:x?}"));
        out
    }

    /// A peer may end a message's deflate stream with BFINAL (RFC 7692 §7.2.3.5): the message
    /// is complete without the tail, and the next message starts a new stream. Found by the
    /// `util_deflate` fuzz target (the final empty `decode` call used to fail with 1007).
    #[test]
    fn bfinal_ends_a_message_and_the_next_starts_a_new_stream() {
        let finished = |msg: &[u8]| {
            let mut c = Compress::new(Compression::default(), false);
            let mut wire = Vec::with_capacity(msg.len() + 64);
            assert_eq!(
                c.compress_vec(msg, &mut wire, FlushCompress::Finish)
                    .unwrap(),
                Status::StreamEnd
            );
            wire
        };
        for reset in [false, true] {
            let mut i = Inflater::new(reset);
            for (n, msg) in [&b"final block"[..], b"", b"final again"]
                .into_iter()
                .enumerate()
            {
                let wire = finished(msg);
                let mut out = Vec::new();
                // in every split, the last call with an empty chunk included
                let (a, b) = wire.split_at(wire.len() / 2);
                for chunk in [a, b] {
                    i.decode(Rsv::RSV1, chunk, false, &mut out, 1000).unwrap();
                }
                i.decode(Rsv::RSV1, &[], true, &mut out, 1000)
                    .unwrap_or_else(|e| panic!("message {n}, reset {reset}: {e}"));
                assert_eq!(out, msg);
            }
            // a message in the usual form still follows
            let mut d = Deflater::new(6, 15, false, 0);
            assert_eq!(round(&mut d, &mut i, b"after"), b"after");
        }
    }

    /// Bytes after the end of the deflate stream, in the same chunk or a later one, are invalid
    /// data (1007).
    #[test]
    fn data_after_bfinal_is_invalid() {
        let mut c = Compress::new(Compression::default(), false);
        let mut wire = Vec::with_capacity(64);
        c.compress_vec(b"end", &mut wire, FlushCompress::Finish)
            .unwrap();
        let mut out = Vec::new();
        let mut i = Inflater::new(false);
        let mut with_extra = wire.clone();
        with_extra.push(0);
        assert_eq!(
            i.decode(Rsv::RSV1, &with_extra, false, &mut out, 1000),
            Err(ExtensionError::INVALID_DATA)
        );
        let mut i = Inflater::new(false);
        out.clear();
        i.decode(Rsv::RSV1, &wire, false, &mut out, 1000).unwrap();
        assert_eq!(
            i.decode(Rsv::RSV1, &[0], true, &mut out, 1000),
            Err(ExtensionError::INVALID_DATA)
        );
    }

    /// A stream that ends (BFINAL) while the output is exactly at the limit, with bytes after
    /// the end in the same chunk: invalid data, not silently dropped bytes. Found by the
    /// `util_deflate` fuzz target (the at-the-limit probe returned `Ok` and discarded the rest of
    /// the chunk). Every split of the stream into two chunks, junk after the end in the second.
    #[test]
    fn bytes_after_the_end_at_the_limit_are_invalid() {
        let mut c = Compress::new(Compression::default(), false);
        let mut wire = Vec::with_capacity(64);
        let text = b"0123456789abcdefghij";
        c.compress_vec(text, &mut wire, FlushCompress::Finish)
            .unwrap();
        for limit in [text.len(), text.len() + 1, 1000] {
            for split in 0..wire.len() {
                let mut i = Inflater::new(false);
                let mut out = Vec::new();
                let second = [&wire[split..], b"junk"].concat();
                let r = i
                    .decode(Rsv::RSV1, &wire[..split], false, &mut out, limit)
                    .and_then(|()| i.decode(Rsv::RSV1, &second, false, &mut out, limit));
                assert_eq!(
                    r,
                    Err(ExtensionError::INVALID_DATA),
                    "limit {limit}, split at {split}"
                );
                assert_eq!(out, text);
            }
        }
    }

    /// With a buffer whose spare room exceeds the limit (as when streaming reuses it), output
    /// past the limit followed by invalid data in the same call is 1009, as with a bounded
    /// buffer. Found by the `util_deflate` fuzz target (`message_reader` said 1007, `read` 1009).
    #[test]
    fn too_big_before_invalid_data_is_too_big() {
        let mut d = Deflater::new(6, 15, false, 0);
        let mut wire = Vec::new();
        d.encode(OpCode::Binary, &[0u8; 20_000], &mut wire).unwrap();
        // end the sync-flushed data, then a block header with BTYPE 11 (invalid, RFC 1951 §3.2.3)
        wire.extend_from_slice(&TAIL);
        wire.push(0xff);
        for capacity in [0, 1000, 64 << 10] {
            let mut i = Inflater::new(false);
            let mut out = Vec::with_capacity(capacity);
            assert_eq!(
                i.decode(Rsv::RSV1, &wire, false, &mut out, 1000),
                Err(ExtensionError::TOO_BIG),
                "capacity {capacity}"
            );
            // the data alone is still invalid
            let mut i = Inflater::new(false);
            let mut out = Vec::with_capacity(capacity);
            assert_eq!(
                i.decode(Rsv::RSV1, &[0xff], false, &mut out, 1000),
                Err(ExtensionError::INVALID_DATA)
            );
        }
    }

    #[test]
    fn empty_then_small_messages() {
        for reset in [false, true] {
            let mut d = Deflater::new(6, 15, reset, 0);
            let mut i = Inflater::new(reset);
            for m in [&b""[..], b"", b"z", b"", b"hello hello hello", b"a"] {
                assert_eq!(round(&mut d, &mut i, m), m, "reset {reset}");
            }
        }
    }
}
