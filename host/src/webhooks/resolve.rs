//! How the worker turns a receiver's host name into addresses: the system's resolver in
//! production. A test passes its own ([`Resolver::new`], through `app::StartOptions`) to make an
//! innocent-looking name resolve to loopback and prove that the check on the resolved addresses,
//! not the name, decides.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use futures_util::future::BoxFuture;

/// A name resolver for webhook targets.
pub trait Resolve: Send + Sync + 'static {
    /// Every address `name` has, with `port`.
    fn resolve<'a>(&'a self, name: &'a str, port: u16) -> BoxFuture<'a, io::Result<Vec<SocketAddr>>>;
}

/// The resolver the worker uses: the system's unless a test gave another.
#[derive(Clone)]
pub struct Resolver(Arc<dyn Resolve>);

impl Resolver {
    pub fn new(resolve: impl Resolve) -> Self {
        Self(Arc::new(resolve))
    }

    /// getaddrinfo, as every other connection of the process.
    pub fn system() -> Self {
        Self::new(System)
    }

    pub(super) async fn lookup(&self, name: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
        self.0.resolve(name, port).await
    }
}

impl Default for Resolver {
    fn default() -> Self {
        Self::system()
    }
}

impl fmt::Debug for Resolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Resolver")
    }
}

struct System;

impl Resolve for System {
    fn resolve<'a>(&'a self, name: &'a str, port: u16) -> BoxFuture<'a, io::Result<Vec<SocketAddr>>> {
        Box::pin(async move { Ok(tokio::net::lookup_host((name, port)).await?.collect()) })
    }
}
