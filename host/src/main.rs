//! The `wapi` binary: parse the command line, read the configuration, set up logging, run.

use clap::Parser;
use tracing_subscriber::EnvFilter;
use wapi::app::{self, StartOptions};
use wapi::cli::{self, Cli, Command};

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let config = match cli::load_config(&cli) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("wapi: {e:#}");
            return std::process::ExitCode::from(2);
        }
    };
    let serving = matches!(cli.command, None | Some(Command::Serve));
    init_logging(&config.log, serving);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let result = runtime.block_on(async {
        match cli.command {
            Some(Command::Keys(command)) => cli::keys(&config, command).await,
            None | Some(Command::Serve) => serve(config).await,
        }
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("wapi: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn serve(config: wapi::config::Config) -> anyhow::Result<()> {
    // One crypto provider for the whole binary, chosen explicitly.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let clock = cli::clock_from_env()?;
    let options = StartOptions {
        admin_key: cli::admin_key_from_env()?,
        ..StartOptions::default()
    };
    let running = app::start(config, clock, options).await?;
    shutdown_signal().await;
    running.stop().await;
    Ok(())
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

fn init_logging(log: &wapi::config::LogConfig, serving: bool) {
    let default = if serving { log.level.as_str() } else { "warn" };
    let filter = EnvFilter::try_from_env("WAPI_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    // Colours only on a terminal: a log file or a journal gets plain text that grep can read.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    if log.json {
        builder.json().init();
    } else {
        builder.init();
    }
}
