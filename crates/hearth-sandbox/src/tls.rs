//! HTTPS for the sandbox Kubernetes API, as a real cluster serves it: a
//! fresh CA and a server certificate for 127.0.0.1/localhost at every start
//! (a restart, `SandboxHandle::restart_options`, keeps them), the CA in the kubeconfig (`certificate-authority-data`). kubectl sends a
//! bearer token only over TLS, so RBAC can only be tested this way.
//!
//! Handshakes run in their own tasks, so a slow or broken client never
//! holds up the next connection.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use anyhow::Context;
use rustls::pki_types::{CertificateDer, PrivatePkcs8KeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

/// The certificates of one sandbox run.
pub struct Tls {
    /// The CA certificate, PEM (what a kubeconfig carries).
    pub ca_pem: String,
    /// The CA certificate, DER (what a Rust client adds as a root).
    pub ca_der: Vec<u8>,
    config: Arc<rustls::ServerConfig>,
}

impl Tls {
    /// A new CA and a server certificate it signed, for `127.0.0.1` and
    /// `localhost`.
    pub fn generate() -> anyhow::Result<Tls> {
        use rcgen::{
            BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair,
            KeyUsagePurpose, SanType,
        };
        let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "hearth-sandbox-ca");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate()?)?;

        let mut params = CertificateParams::new(vec!["localhost".to_string()])?;
        params
            .distinguished_name
            .push(DnType::CommonName, "hearth-sandbox-apiserver");
        params
            .subject_alt_names
            .push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &ca)?;

        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .context("TLS protocol versions")?
            .with_no_client_auth()
            .with_single_cert(
                vec![cert.der().clone()],
                PrivatePkcs8KeyDer::from(key.serialize_der()).into(),
            )
            .context("the sandbox server certificate")?;
        // HTTP/1.1, as the plain-HTTP sandbox spoke: watches are one
        // streamed response per connection.
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Tls {
            ca_pem: ca.pem(),
            ca_der: ca.der().to_vec(),
            config: Arc::new(config),
        })
    }

    /// The CA as a DER certificate.
    pub fn ca(&self) -> CertificateDer<'static> {
        CertificateDer::from(self.ca_der.clone())
    }
}

/// A TCP listener whose connections come out of a TLS handshake.
pub struct TlsListener {
    rx: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    addr: SocketAddr,
}

impl TlsListener {
    /// Accept on `tcp`, handshaking each connection in its own task, until
    /// `stop` turns true (then the port is free again). Needs a tokio runtime.
    pub fn new(
        tcp: TcpListener,
        tls: &Tls,
        stop: tokio::sync::watch::Receiver<bool>,
    ) -> std::io::Result<TlsListener> {
        TlsListener::with_switch(tcp, tls, stop, None)
    }

    /// [`TlsListener::new`] that drops every new connection while `down`
    /// is set (a cluster taken down: clients see the connection cut).
    pub fn with_switch(
        tcp: TcpListener,
        tls: &Tls,
        mut stop: tokio::sync::watch::Receiver<bool>,
        down: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
    ) -> std::io::Result<TlsListener> {
        let addr = tcp.local_addr()?;
        let acceptor = TlsAcceptor::from(tls.config.clone());
        let (tx, rx) = mpsc::channel(64);
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    a = tcp.accept() => a,
                    _ = stop.wait_for(|s| *s) => return,
                };
                let (stream, peer) = match accepted {
                    Ok(c) => c,
                    Err(_) => {
                        // Out of file descriptors and the like: back off.
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        continue;
                    }
                };
                if tx.is_closed() {
                    return;
                }
                if down
                    .as_ref()
                    .is_some_and(|d| d.load(std::sync::atomic::Ordering::SeqCst))
                {
                    drop(stream);
                    continue;
                }
                let acceptor = acceptor.clone();
                let tx = tx.clone();
                tokio::spawn(async move {
                    let handshake = tokio::time::timeout(
                        std::time::Duration::from_secs(10),
                        acceptor.accept(stream),
                    );
                    if let Ok(Ok(tls)) = handshake.await {
                        let _ = tx.send((tls, peer)).await;
                    }
                });
            }
        });
        Ok(TlsListener { rx, addr })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.rx.recv().await {
            Some(c) => c,
            // The accept loop only ends once this listener is dropped.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.addr)
    }
}
