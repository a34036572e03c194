//! TLS with rustls, both roles. The crypto provider is aws-lc-rs (with post-quantum key exchange), chosen here for every
//! configuration this module builds: no process-level default is needed or installed, so nothing
//! panics with "no process-level CryptoProvider" whatever else the process links.
//!
//! - Client: [`ClientTls`] trusts the roots the crate features enable (`webpki-roots`: Mozilla's,
//!   compiled in; `native-roots`: the platform's), plus any CA you add (PEM file, PEM bytes, DER),
//!   or uses your own `rustls::ClientConfig`. Skipping verification is possible only through
//!   [`ClientTls::dangerous_accept_any_certificate`].
//! - Server: [`ServerTls`] from a PEM certificate chain and key (or your `rustls::ServerConfig`);
//!   [`ServerTls::accept`] turns an accepted `TcpStream` into a [`Stream`] that
//!   `WebSocket::accept` takes like any other.

use std::fmt;
use std::io;
use std::net::TcpStream;
use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig};

use crate::stream::{Stream, Tcp};

/// How long [`ServerTls::accept`] waits for a client's TLS handshake by default: 10 s.
pub const DEFAULT_ACCEPT_TIMEOUT: Duration = Duration::from_secs(10);

/// The provider every configuration built here uses.
pub fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .clone()
}

/// What went wrong with TLS.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TlsErrorKind {
    /// The server's certificate chain does not lead to a trusted root (self-signed, or a private
    /// CA not added with [`ClientTls::add_ca_pem_file`]).
    UnknownIssuer,
    /// The certificate is not valid for the name dialed (SNI/`subjectAltName` mismatch).
    WrongName,
    /// The certificate has expired.
    Expired,
    /// The certificate is not valid yet.
    NotYetValid,
    /// Another problem with a certificate (revoked, bad signature, wrong usage…).
    BadCertificate,
    /// The peer sent an alert or broke the TLS protocol.
    Handshake,
    /// No root certificates to verify with: enable the `webpki-roots` or `native-roots` feature,
    /// or add a CA.
    NoRootCertificates,
    /// A certificate or key file could not be read or used.
    Config,
}

/// A TLS failure: its [`kind`](TlsError::kind) and what rustls (or the file system) said.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsError {
    kind: TlsErrorKind,
    detail: String,
}

impl TlsError {
    pub(crate) fn new(kind: TlsErrorKind, detail: impl Into<String>) -> TlsError {
        TlsError {
            kind,
            detail: detail.into(),
        }
    }

    /// What went wrong.
    pub fn kind(&self) -> TlsErrorKind {
        self.kind
    }

    /// Classifies a rustls error.
    pub fn from_rustls(e: &rustls::Error) -> TlsError {
        let kind = match e {
            rustls::Error::InvalidCertificate(c) => match c {
                CertificateError::UnknownIssuer => TlsErrorKind::UnknownIssuer,
                CertificateError::NotValidForName
                | CertificateError::NotValidForNameContext { .. } => TlsErrorKind::WrongName,
                CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                    TlsErrorKind::Expired
                }
                CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                    TlsErrorKind::NotYetValid
                }
                _ => TlsErrorKind::BadCertificate,
            },
            _ => TlsErrorKind::Handshake,
        };
        TlsError::new(kind, e.to_string())
    }

    /// Classifies an I/O error from a TLS stream: a rustls error inside is classified, anything
    /// else is `None` (a plain I/O failure).
    pub fn from_io(e: &io::Error) -> Option<TlsError> {
        e.get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
            .map(TlsError::from_rustls)
    }
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            TlsErrorKind::UnknownIssuer => {
                "the server's certificate is not trusted (unknown issuer)"
            }
            TlsErrorKind::WrongName => "the server's certificate is not valid for this host name",
            TlsErrorKind::Expired => "the server's certificate has expired",
            TlsErrorKind::NotYetValid => "the server's certificate is not valid yet",
            TlsErrorKind::BadCertificate => "bad certificate",
            TlsErrorKind::Handshake => "handshake failed",
            TlsErrorKind::NoRootCertificates => {
                "no root certificates (enable the webpki-roots or native-roots feature, or add a CA)"
            }
            TlsErrorKind::Config => "configuration",
        };
        write!(f, "{what}: {}", self.detail)
    }
}

impl std::error::Error for TlsError {}

#[derive(Clone)]
enum Trust {
    Roots {
        webpki: bool,
        native: bool,
        extra: Vec<CertificateDer<'static>>,
    },
    Config(Arc<ClientConfig>),
    AnyCertificate,
}

/// How a client verifies servers; cheap to clone (the built configuration is shared).
///
/// ```
/// # fn main() -> Result<(), zerows_net::tls::TlsError> {
/// use zerows_net::tls::ClientTls;
/// // the roots the crate features enable (webpki-roots by default) plus a private CA:
/// # let dir = std::env::temp_dir().join("zerows-doc-ca");
/// # std::fs::create_dir_all(&dir).unwrap();
/// # let ca = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
/// # std::fs::write(dir.join("ca.pem"), ca.cert.pem()).unwrap();
/// let tls = ClientTls::new().add_ca_pem_file(dir.join("ca.pem"))?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct ClientTls {
    trust: Trust,
    built: Arc<OnceLock<Result<Arc<ClientConfig>, TlsError>>>,
}

impl fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match &self.trust {
            Trust::Roots {
                webpki,
                native,
                extra,
            } => format!(
                "roots(webpki: {webpki}, native: {native}, extra CAs: {})",
                extra.len()
            ),
            Trust::Config(_) => "caller's ClientConfig".into(),
            Trust::AnyCertificate => "DANGEROUS: any certificate accepted".into(),
        };
        f.debug_tuple("ClientTls").field(&what).finish()
    }
}

impl Default for ClientTls {
    fn default() -> Self {
        ClientTls::new()
    }
}

impl ClientTls {
    fn with(trust: Trust) -> ClientTls {
        ClientTls {
            trust,
            built: Arc::new(OnceLock::new()),
        }
    }

    /// The roots the enabled features provide: `webpki-roots` (on by default) and/or
    /// `native-roots`.
    pub fn new() -> ClientTls {
        ClientTls::with(Trust::Roots {
            webpki: cfg!(feature = "webpki-roots"),
            native: cfg!(feature = "native-roots"),
            extra: Vec::new(),
        })
    }

    /// Only the CAs added afterwards (no built-in roots): for private deployments and tests.
    pub fn no_roots() -> ClientTls {
        ClientTls::with(Trust::Roots {
            webpki: false,
            native: false,
            extra: Vec::new(),
        })
    }

    /// Your own configuration, used as given (its provider, roots, ALPN, client certificate).
    pub fn from_config(config: Arc<ClientConfig>) -> ClientTls {
        ClientTls::with(Trust::Config(config))
    }

    /// **Accepts any server certificate: no protection against an active attacker.** For
    /// development against a server whose certificate you cannot get; the handshake's
    /// signatures are still checked. Prefer [`add_ca_pem_file`](Self::add_ca_pem_file).
    pub fn dangerous_accept_any_certificate() -> ClientTls {
        ClientTls::with(Trust::AnyCertificate)
    }

    /// Also trusts the CA certificates in `der`.
    #[must_use]
    pub fn add_ca_der(mut self, der: CertificateDer<'static>) -> ClientTls {
        if let Trust::Roots { extra, .. } = &mut self.trust {
            extra.push(der);
        }
        self.built = Arc::new(OnceLock::new());
        self
    }

    /// Also trusts every certificate in the PEM text `pem`.
    ///
    /// # Errors
    /// [`TlsErrorKind::Config`] when it holds no certificate or is not PEM.
    pub fn add_ca_pem(mut self, pem: &[u8]) -> Result<ClientTls, TlsError> {
        let certs = CertificateDer::pem_slice_iter(pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| TlsError::new(TlsErrorKind::Config, format!("CA PEM: {e}")))?;
        if certs.is_empty() {
            return Err(TlsError::new(
                TlsErrorKind::Config,
                "no certificate in the CA PEM",
            ));
        }
        for c in certs {
            self = self.add_ca_der(c);
        }
        Ok(self)
    }

    /// Also trusts every certificate in the PEM file at `path`.
    ///
    /// # Errors
    /// [`TlsErrorKind::Config`] naming the file when it cannot be read or holds no certificate.
    pub fn add_ca_pem_file(self, path: impl AsRef<Path>) -> Result<ClientTls, TlsError> {
        let path = path.as_ref();
        let pem = std::fs::read(path)
            .map_err(|e| TlsError::new(TlsErrorKind::Config, format!("{}: {e}", path.display())))?;
        self.add_ca_pem(&pem).map_err(|e| {
            TlsError::new(
                TlsErrorKind::Config,
                format!("{}: {}", path.display(), e.detail),
            )
        })
    }

    /// The rustls configuration, built once and shared by clones.
    ///
    /// # Errors
    /// [`TlsErrorKind::NoRootCertificates`] when nothing would be trusted.
    pub fn config(&self) -> Result<Arc<ClientConfig>, TlsError> {
        self.built.get_or_init(|| self.build()).clone()
    }

    fn build(&self) -> Result<Arc<ClientConfig>, TlsError> {
        let builder = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::from_rustls(&e))?;
        let mut config = match &self.trust {
            Trust::Config(c) => return Ok(c.clone()),
            Trust::AnyCertificate => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider())))
                .with_no_client_auth(),
            Trust::Roots {
                webpki,
                native,
                extra,
            } => {
                let mut roots = RootCertStore::empty();
                #[cfg(feature = "webpki-roots")]
                if *webpki {
                    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
                }
                #[cfg(feature = "native-roots")]
                if *native {
                    let found = rustls_native_certs::load_native_certs();
                    let _ = roots.add_parsable_certificates(found.certs);
                }
                let _ = (webpki, native);
                for c in extra {
                    roots
                        .add(c.clone())
                        .map_err(|e| TlsError::from_rustls(&e))?;
                }
                if roots.is_empty() {
                    return Err(TlsError::new(
                        TlsErrorKind::NoRootCertificates,
                        "the root store is empty",
                    ));
                }
                builder.with_root_certificates(roots).with_no_client_auth()
            }
        };
        // RFC 6455 runs over HTTP/1.1 (RFC 8441 over HTTP/2 is another protocol).
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

/// Accepts any certificate; still checks the handshake signatures with the provider's
/// algorithms.
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// A server's TLS: certificate chain and key, shared by every connection.
///
/// ```no_run
/// use std::net::TcpListener;
/// use zerows_net::tls::ServerTls;
/// use zerows_util::WebSocket;
///
/// let tls = ServerTls::from_pem_files("cert.pem", "key.pem")?;
/// let listener = TcpListener::bind("127.0.0.1:9443")?;
/// for tcp in listener.incoming() {
///     let tls = tls.clone();
///     std::thread::spawn(move || -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
///         let mut ws = WebSocket::accept(tls.accept(tcp?)?)?;
///         // … as over TCP
///         # Ok(())
///     });
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct ServerTls {
    config: Arc<ServerConfig>,
    accept_timeout: Duration,
}

impl ServerTls {
    /// From a PEM certificate chain (leaf first) and a PEM private key (PKCS#8, PKCS#1 or SEC1).
    ///
    /// # Errors
    /// [`TlsErrorKind::Config`] naming what is missing or unusable.
    pub fn from_pem(cert_chain: &[u8], key: &[u8]) -> Result<ServerTls, TlsError> {
        let chain = CertificateDer::pem_slice_iter(cert_chain)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| TlsError::new(TlsErrorKind::Config, format!("certificate PEM: {e}")))?;
        if chain.is_empty() {
            return Err(TlsError::new(
                TlsErrorKind::Config,
                "no certificate in the PEM",
            ));
        }
        let key = PrivateKeyDer::from_pem_slice(key)
            .map_err(|e| TlsError::new(TlsErrorKind::Config, format!("private key PEM: {e}")))?;
        let mut config = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::from_rustls(&e))?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(|e| TlsError::new(TlsErrorKind::Config, e.to_string()))?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(ServerTls::from_config(Arc::new(config)))
    }

    /// From PEM files: the certificate chain and the private key.
    ///
    /// # Errors
    /// [`TlsErrorKind::Config`] naming the file.
    pub fn from_pem_files(
        cert_chain: impl AsRef<Path>,
        key: impl AsRef<Path>,
    ) -> Result<ServerTls, TlsError> {
        let read = |p: &Path| {
            std::fs::read(p)
                .map_err(|e| TlsError::new(TlsErrorKind::Config, format!("{}: {e}", p.display())))
        };
        ServerTls::from_pem(&read(cert_chain.as_ref())?, &read(key.as_ref())?)
    }

    /// Your own configuration, used as given.
    pub fn from_config(config: Arc<ServerConfig>) -> ServerTls {
        ServerTls {
            config,
            accept_timeout: DEFAULT_ACCEPT_TIMEOUT,
        }
    }

    /// How long [`accept`](Self::accept) waits for the client's handshake
    /// ([`DEFAULT_ACCEPT_TIMEOUT`]: 10 s); a client that stalls is dropped.
    #[must_use]
    pub fn accept_timeout(mut self, timeout: Duration) -> ServerTls {
        self.accept_timeout = timeout;
        self
    }

    /// The rustls configuration.
    pub fn config(&self) -> &Arc<ServerConfig> {
        &self.config
    }

    /// Runs the TLS handshake on an accepted connection, bounded by the accept timeout.
    ///
    /// # Errors
    /// The I/O error, with a [`TlsError`] inside for TLS failures
    /// ([`TlsError::from_io`] classifies it); `TimedOut` when the client stalls.
    pub fn accept(&self, tcp: TcpStream) -> io::Result<Stream> {
        let conn = rustls::ServerConnection::new(self.config.clone()).map_err(io::Error::other)?;
        let mut tcp = Tcp::new(tcp);
        tcp.set_deadline(Some(Instant::now() + self.accept_timeout));
        let mut tls = rustls::StreamOwned::new(conn, tcp);
        while tls.conn.is_handshaking() {
            tls.conn.complete_io(&mut tls.sock)?;
        }
        tls.sock.set_deadline(None);
        tls.sock.clear_timeouts()?;
        Ok(Stream::server(tls))
    }

    /// The same, over tokio.
    ///
    /// # Errors
    /// As [`accept`](Self::accept).
    #[cfg(feature = "tokio")]
    pub async fn accept_async(
        &self,
        tcp: tokio::net::TcpStream,
    ) -> io::Result<crate::stream::AsyncStream> {
        let acceptor = tokio_rustls::TlsAcceptor::from(self.config.clone());
        match tokio::time::timeout(self.accept_timeout, acceptor.accept(tcp)).await {
            Ok(Ok(tls)) => Ok(crate::stream::AsyncStream::tls(
                tokio_rustls::TlsStream::Server(tls),
            )),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client did not finish its TLS handshake in time",
            )),
        }
    }
}

/// The name a client verifies and sends as SNI (none is sent for IP addresses, RFC 6066 §3).
pub(crate) fn server_name(host: crate::url::Host<'_>) -> Result<ServerName<'static>, TlsError> {
    match host {
        crate::url::Host::Ip(ip) => Ok(ServerName::IpAddress(ip.into())),
        crate::url::Host::Name(n) => ServerName::try_from(n.to_owned())
            .map_err(|e| TlsError::new(TlsErrorKind::Config, format!("server name {n}: {e}"))),
    }
}
