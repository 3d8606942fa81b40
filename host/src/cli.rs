//! The command line: `wapi [--config PATH]` serves; `wapi keys create|list|revoke` manage keys
//! on the database directly, with or without a running server.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::auth::{self, ApiKey};
use crate::clock::Clock;
use crate::config::{self, Config};
use crate::store::{RevokeOutcome, Role, Store};

#[derive(Debug, Parser)]
#[command(
    name = "wapi",
    version,
    about = "Self-hosted WhatsApp HTTP API gateway with an anti-ban queue"
)]
pub struct Cli {
    /// The configuration file.
    #[arg(long, env = "WAPI_CONFIG", default_value = "config.toml", global = true)]
    pub config: PathBuf,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gateway (the default).
    Serve,
    /// Manage API keys in the database.
    #[command(subcommand)]
    Keys(KeysCommand),
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create a key and print it (shown once).
    Create {
        #[arg(long)]
        name: String,
        #[arg(long, value_parser = ["admin", "user"], default_value = "user")]
        role: String,
    },
    /// List keys: id, name, role, last used, status.
    List,
    /// Revoke a key by its 8-character id.
    Revoke { id: String },
}

pub fn load_config(cli: &Cli) -> anyhow::Result<Config> {
    Ok(config::load(&cli.config)?)
}

/// `WAPI_CLOCK_START` (RFC 3339) starts the clock at that instant; for tests around midnight.
pub fn clock_from_env() -> anyhow::Result<Clock> {
    match std::env::var("WAPI_CLOCK_START") {
        Ok(text) if !text.is_empty() => {
            let start = chrono::DateTime::parse_from_rfc3339(&text).context("WAPI_CLOCK_START must be RFC 3339")?;
            Ok(Clock::starting_at(start.to_utc()))
        }
        _ => Ok(Clock::system()),
    }
}

/// `WAPI_ADMIN_KEY`, checked.
pub fn admin_key_from_env() -> anyhow::Result<Option<ApiKey>> {
    match std::env::var("WAPI_ADMIN_KEY") {
        Ok(text) if !text.is_empty() => ApiKey::parse(text.trim())
            .map(Some)
            .context("WAPI_ADMIN_KEY must look like wapi_<8 letters or digits>_<32 letters or digits>"),
        _ => Ok(None),
    }
}

pub async fn keys(config: &Config, command: KeysCommand) -> anyhow::Result<()> {
    let store = Store::open(&config.storage.path)?;
    let clock = Clock::system();
    match command {
        KeysCommand::Create { name, role } => {
            let role = Role::parse(&role).expect("clap checked the role");
            let (key, row) = auth::create_key(&store, &name, role, clock.now_ms()).await?;
            eprintln!(
                "created {} key {} ({}); it is shown once:",
                row.role.as_str(),
                row.id,
                row.name
            );
            println!("{}", key.expose());
        }
        KeysCommand::List => {
            println!("{:<10} {:<6} {:<8} {:<22} NAME", "ID", "ROLE", "STATUS", "LAST USED");
            for k in store.list_keys().await? {
                let last = k
                    .last_used_at
                    .map_or("never".into(), |t| crate::clock::rfc3339_ms(t)[..16].replace('T', " "));
                let status = if k.revoked_at.is_some() { "revoked" } else { "active" };
                println!(
                    "{:<10} {:<6} {:<8} {:<22} {}",
                    k.id,
                    k.role.as_str(),
                    status,
                    last,
                    k.name
                );
            }
        }
        KeysCommand::Revoke { id } => match store.revoke_key(&id, clock.now_ms()).await? {
            RevokeOutcome::Revoked(k) => eprintln!("revoked {} ({})", k.id, k.name),
            RevokeOutcome::LastAdmin => {
                anyhow::bail!(
                    "{id} is the last active admin key; create another with `wapi keys create --role admin` first"
                )
            }
            RevokeOutcome::NotFound => anyhow::bail!("no key with id {id:?}"),
        },
    }
    Ok(())
}
