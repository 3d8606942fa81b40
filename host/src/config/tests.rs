use std::path::Path;
use std::time::Duration;

use figment::Jail;

use super::*;

fn resolve_text(text: &str) -> Result<Config, ConfigError> {
    from_toml(text, Path::new("/srv/wapi"))
}

#[test]
fn the_shipped_config_toml_resolves_to_the_documented_defaults() {
    let cfg = resolve_text(include_str!("../../../config.toml")).unwrap();
    assert_eq!(cfg.server.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(cfg.server.header_timeout, Duration::from_secs(10));
    assert_eq!(cfg.server.body_timeout, Duration::from_secs(30));
    assert_eq!(cfg.server.max_connections, 512);
    assert!(matches!(cfg.backend, Backend::Web));
    assert_eq!(cfg.antiban.min_gap, Duration::from_secs(5));
    assert_eq!(cfg.antiban.max_gap, Duration::from_secs(9));
    assert_eq!(cfg.antiban.cooldown_every, 20);
    assert_eq!(cfg.antiban.daily_limit, 500);
    assert_eq!(cfg.antiban.sync_wait, Duration::from_secs(15));
    assert_eq!(cfg.limits.sends_per_window.get(), 120);
    assert_eq!(cfg.limits.window, Duration::from_secs(900));
    assert_eq!(cfg.limits.max_upload, 25_000_000);
    assert_eq!(cfg.storage.path, Path::new("/srv/wapi/data/wapi.db"));
    assert_eq!(cfg.storage.media_dir, Path::new("/srv/wapi/data/media"));
    assert_eq!(cfg.plugins.dir, Path::new("/srv/wapi/plugins.d"));
    // Every key of the shipped file is one the defaults know: the file and the code agree.
    let shipped: toml::Table = include_str!("../../../config.toml").parse().unwrap();
    let defaults = toml::Table::try_from(RawConfig::default()).unwrap();
    for (section, keys) in &shipped {
        for key in keys.as_table().unwrap().keys() {
            assert!(
                defaults[section].as_table().unwrap().contains_key(key),
                "{section}.{key}"
            );
        }
    }
}

#[test]
fn refusals_name_the_key() {
    let cases = [
        ("[antiban]\nmin_gap = \"abc\"", "antiban.min_gap"),
        ("[antiban]\nmin_gap = \"10s\"\nmax_gap = \"5s\"", "antiban.max_gap"),
        ("[antiban]\ndaily_limit = 0", "antiban.daily_limit"),
        ("[antiban]\nmin_gapp = \"1s\"", "min_gapp"),
        ("[server]\nlisten = \"nowhere\"", "server.listen"),
        ("[server]\ntls_cert = \"c.pem\"", "server.tls_key"),
        ("[server]\nheader_timeout = \"0s\"", "server.header_timeout"),
        ("[server]\nbody_timeout = \"soon\"", "server.body_timeout"),
        ("[server]\nmax_connections = 0", "server.max_connections"),
        ("[whatsapp]\nbackend = \"cloud\"", "whatsapp.backend"),
        (
            "[whatsapp]\nbackend = \"simulator\"\n[whatsapp.simulator]\nnot_on_whatsapp = [\"+1\"]",
            "not_on_whatsapp",
        ),
        ("[limits]\nmax_upload = \"lots\"", "limits.max_upload"),
        ("[limits]\nrequests_per_window = 0", "limits.requests_per_window"),
        ("[limits]\nmax_batch = 501", "limits.max_batch"),
        ("[log]\nformat = \"xml\"", "log.format"),
        ("[plugins]\nbudgt = \"1s\"", "plugins.budgt"),
        ("[plugins]\nbudget = \"0s\"", "plugins.budget"),
        ("[plugins]\nmemory = \"1KB\"", "plugins.memory"),
        ("[plugins]\nmax_concurrent = 0", "plugins.max_concurrent"),
        ("[webhooks]\nretry_schedule = [\"soon\"]", "webhooks.retry_schedule"),
        ("[webhooks]\nconcurrency = 0", "webhooks.concurrency"),
        ("[nope]\nx = 1", "nope"),
    ];
    for (text, key) in cases {
        let err = resolve_text(text).unwrap_err().to_string();
        assert!(err.contains(key), "{text:?} gave {err:?}");
    }
}

#[test]
fn durations_and_sizes_read_like_people_write_them() {
    assert_eq!(parse_duration("750ms").unwrap(), Duration::from_millis(750));
    assert_eq!(parse_duration("15m").unwrap(), Duration::from_secs(900));
    assert_eq!(parse_duration("24h").unwrap(), Duration::from_secs(86_400));
    assert_eq!(parse_size("25MB").unwrap(), 25_000_000);
    assert_eq!(parse_size("1KiB").unwrap(), 1024);
    assert!(parse_duration("5").is_err());
    assert!(parse_size("-1").is_err());
}

#[test]
// figment's `Jail` closure must return figment's own (large) error type.
#[allow(clippy::result_large_err)]
fn environment_and_dotenv_override_the_file() {
    Jail::expect_with(|jail| {
        jail.create_file(
            "config.toml",
            "[antiban]\nmin_gap = \"5s\"\nmax_gap = \"9s\"\ndaily_limit = 500\n",
        )?;
        jail.create_file(".env", "DAILY_SEND_LIMIT=800\nWAPI_LIMITS__WINDOW=1h\n")?;
        jail.set_env("WAPI_ANTIBAN__MIN_GAP", "1s");
        jail.set_env("WAPI_WHATSAPP__BACKEND", "simulator");
        jail.set_env("WAPI_WHATSAPP__SIMULATOR__AUTO_LINK", "false");
        jail.set_env("WAPI_ADMIN_KEY", "not a config key");
        let cfg = load(Path::new("config.toml")).map_err(|e| e.to_string())?;
        assert_eq!(cfg.antiban.min_gap, Duration::from_secs(1));
        assert_eq!(cfg.antiban.daily_limit, 800);
        assert_eq!(cfg.limits.window, Duration::from_secs(3600));
        match cfg.backend {
            Backend::Simulator(sim) => assert!(!sim.auto_link),
            Backend::Web => panic!("backend should be the simulator"),
        }
        Ok(())
    });
}

#[test]
fn a_missing_file_is_named() {
    let err = load(Path::new("/nonexistent/wapi.toml")).unwrap_err().to_string();
    assert!(err.contains("/nonexistent/wapi.toml"), "{err}");
}
