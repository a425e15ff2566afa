use super::*;
use std::path::PathBuf;

use std::collections::{BTreeMap, HashMap};

fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |name| map.get(name).cloned()
}

const SECRETS: &[(&str, &str)] = &[
    ("ZOOM_WEBHOOK_SECRET_TOKEN", "whsec-7Qx9"),
    ("ZOOM_ACCOUNT_ID", "acct-3Lp2"),
    ("ZOOM_CLIENT_ID", "cid-8Vn4"),
    ("ZOOM_CLIENT_SECRET", "csec-1Zr6"),
];

#[test]
fn the_shipped_example_parses() {
    let text = include_str!("../../config/qoswatch.example.yaml");
    let settings = Settings::from_yaml("qoswatch.example.yaml", text).expect("parses");
    assert_eq!(settings.polling.interval, Duration::from_secs(60));
    assert_eq!(settings.webhook.replay_window, Duration::from_secs(300));
    let defaults = ServerSettings::default();
    assert_eq!(settings.server.max_connections, defaults.max_connections);
    assert_eq!(
        settings.server.header_read_timeout,
        defaults.header_read_timeout
    );
    assert_eq!(settings.server.idle_timeout, defaults.idle_timeout);
}

#[test]
fn durations_read_like_humans_write_them() {
    let s = Settings::from_yaml(
        "t.yaml",
        "polling:\n  interval: 1s\n  stale_after: 5m\n  max_watch_age: 24h\n",
    )
    .expect("parses");
    assert_eq!(s.polling.interval, Duration::from_secs(1));
    assert_eq!(s.polling.stale_after, Duration::from_secs(300));
    assert_eq!(s.polling.max_watch_age, Duration::from_secs(86_400));
}

#[test]
fn unknown_keys_are_rejected_by_name() {
    let err = Settings::from_yaml("t.yaml", "polling:\n  intervall: 1s\n").unwrap_err();
    let message = err.to_string();
    assert!(message.contains("intervall"), "{message}");
    assert!(message.starts_with("t.yaml"), "{message}");
}

#[test]
fn bad_duration_says_what_was_expected() {
    let err = Settings::from_yaml("t.yaml", "polling:\n  interval: soon\n").unwrap_err();
    assert!(err.to_string().contains("expected a duration"), "{err}");
}

#[test]
fn environment_overrides_the_file() {
    let mut pairs = SECRETS.to_vec();
    pairs.push(("QOSWATCH_POLL_INTERVAL", "2s"));
    pairs.push(("QOSWATCH_ZOOM_API_BASE", "http://127.0.0.1:9/v2"));
    pairs.push(("QOSWATCH_LISTEN", "127.0.0.1:0"));
    let env = env_of(&pairs);
    let mut s = Settings::from_yaml("t.yaml", "polling:\n  interval: 30s\n").expect("parses");
    s.apply_env(&env).expect("applies");
    assert_eq!(s.polling.interval, Duration::from_secs(2));
    assert_eq!(s.zoom.api_base, "http://127.0.0.1:9/v2");
    assert_eq!(s.server.listen.port(), 0);
}

#[test]
fn bad_environment_value_names_the_variable() {
    let env = env_of(&[("QOSWATCH_ZOOM_REQUESTS_PER_SECOND", "lots")]);
    let err = Settings::default().apply_env(&env).unwrap_err();
    assert!(
        err.to_string()
            .contains("QOSWATCH_ZOOM_REQUESTS_PER_SECOND"),
        "{err}"
    );
}

#[test]
fn a_missing_secret_names_the_variable() {
    for missing in [
        ENV_WEBHOOK_SECRET,
        ENV_ACCOUNT_ID,
        ENV_CLIENT_ID,
        ENV_CLIENT_SECRET,
    ] {
        let pairs: Vec<_> = SECRETS
            .iter()
            .copied()
            .filter(|(k, _)| *k != missing)
            .collect();
        let env = env_of(&pairs);
        let err = Settings::load(None, &env).unwrap_err();
        assert!(err.to_string().contains(missing), "{err}");
    }
}

#[test]
fn several_webhook_tokens_for_rotation_and_file_secrets() {
    let dir = std::env::temp_dir().join(format!("qoswatch-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let secret_file = dir.join("client_secret");
    std::fs::write(&secret_file, "from-file\n").expect("write");
    let path = secret_file.display().to_string();
    let env = env_of(&[
        ("ZOOM_WEBHOOK_SECRET_TOKEN", "new-token, old-token"),
        ("ZOOM_ACCOUNT_ID", "acc"),
        ("ZOOM_CLIENT_ID", "cid"),
        ("ZOOM_CLIENT_SECRET_FILE", &path),
    ]);
    let s = Settings::load(None, &env).expect("loads");
    let tokens: Vec<&str> = s
        .secrets
        .webhook_secret_tokens
        .iter()
        .map(|t| t.expose_secret())
        .collect();
    assert_eq!(tokens, ["new-token", "old-token"]);
    assert_eq!(
        s.secrets.client_secret.as_ref().map(|s| s.expose_secret()),
        Some("from-file")
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn the_admin_token_comes_from_the_environment_or_a_file_and_is_optional() {
    let without = Settings::load(None, &env_of(SECRETS)).expect("loads");
    assert!(without.secrets.admin_token.is_none());
    let mut pairs = SECRETS.to_vec();
    pairs.push(("QOSWATCH_ADMIN_TOKEN", " adm1n-T0ken "));
    let with = Settings::load(None, &env_of(&pairs)).expect("loads");
    assert_eq!(
        with.secrets.admin_token.as_ref().map(|t| t.expose_secret()),
        Some("adm1n-T0ken")
    );
    assert!(!format!("{with:?}").contains("adm1n"));
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("admin_token");
    std::fs::write(&file, "from-file\n").expect("write");
    let path = file.display().to_string();
    let mut pairs = SECRETS.to_vec();
    pairs.push(("QOSWATCH_ADMIN_TOKEN_FILE", &path));
    let from_file = Settings::load(None, &env_of(&pairs)).expect("loads");
    assert_eq!(
        from_file
            .secrets
            .admin_token
            .as_ref()
            .map(|t| t.expose_secret()),
        Some("from-file")
    );
}

#[test]
fn the_admin_listener_is_loopback_by_default_and_never_the_public_address() {
    let defaults = ServerSettings::default();
    assert!(defaults.admin_listen.ip().is_loopback());
    assert_ne!(defaults.admin_listen, defaults.listen);
    assert!(defaults.legacy_public_endpoints, "for this release");
    let mut pairs = SECRETS.to_vec();
    pairs.push(("QOSWATCH_LISTEN", "0.0.0.0:8080"));
    pairs.push(("QOSWATCH_ADMIN_LISTEN", "0.0.0.0:8080"));
    let error = Settings::load(None, &env_of(&pairs)).unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with("invalid setting server.admin_listen"),
        "{error}"
    );
    // Port 0 on both (tests) picks two ports.
    pairs.pop();
    pairs.pop();
    pairs.push(("QOSWATCH_LISTEN", "127.0.0.1:0"));
    pairs.push(("QOSWATCH_ADMIN_LISTEN", "127.0.0.1:0"));
    assert!(Settings::load(None, &env_of(&pairs)).is_ok());
}

#[test]
fn debug_output_hides_secrets() {
    let env = env_of(SECRETS);
    let s = Settings::load(None, &env).expect("loads");
    let debug = format!("{s:?}");
    for (_, value) in SECRETS {
        assert!(!debug.contains(value), "{value} leaked: {debug}");
    }
}

#[test]
fn smtp_comes_from_file_and_environment_but_its_password_only_from_environment() {
    let mut pairs = SECRETS.to_vec();
    pairs.push(("QOSWATCH_SMTP_HOST", "smtp.example.com"));
    pairs.push(("QOSWATCH_SMTP_FROM", "qoswatch@example.com"));
    pairs.push(("QOSWATCH_SMTP_PASSWORD", "smtp-pass-4Kd"));
    let env = env_of(&pairs);
    let s = Settings::load(None, &env).expect("loads");
    let smtp = s.alerts.smtp.as_ref().expect("smtp from env");
    assert_eq!(smtp.host, "smtp.example.com");
    assert_eq!(smtp.port, 587);
    assert_eq!(
        smtp.password.as_ref().map(|p| p.expose_secret()),
        Some("smtp-pass-4Kd")
    );
    assert!(!format!("{s:?}").contains("smtp-pass-4Kd"));

    let mut in_file = Settings::from_yaml(
        "t.yaml",
        "alerts:\n  smtp:\n    host: relay\n    port: 25\n    from: a@b.c\n    password: oops\n",
    )
    .expect("parses");
    in_file.secrets = Secrets::from_env(&env_of(SECRETS)).expect("secrets");
    let err = in_file.validate().unwrap_err().to_string();
    assert!(err.contains("QOSWATCH_SMTP_PASSWORD"), "{err}");
}

#[test]
fn zoom_meeting_alerts_settings() {
    let s = Settings::from_yaml(
        "t.yaml",
        "alerts:\n  zoom_meeting_alerts:\n    enabled: true\n    channels: [it-slack]\n    severity: critical\n",
    )
    .expect("parses");
    assert!(s.alerts.zoom_meeting_alerts.enabled);
    assert_eq!(s.alerts.zoom_meeting_alerts.channels, ["it-slack"]);
    assert_eq!(
        s.alerts.zoom_meeting_alerts.severity,
        qoswatch_core::alert::Severity::Critical
    );
}

#[test]
fn validation_names_the_setting() {
    let env = env_of(SECRETS);
    for (yaml, name) in [
        (
            "webhook:\n  replay_window: 500ms\n",
            "webhook.replay_window",
        ),
        ("webhook:\n  replay_window: 2h\n", "webhook.replay_window"),
        ("polling:\n  max_watchers: 0\n", "polling.max_watchers"),
        (
            "polling:\n  max_remembered_ended: 0\n",
            "polling.max_remembered_ended",
        ),
        ("zoom:\n  max_answer_bytes: 1000\n", "zoom.max_answer_bytes"),
        (
            "zoom:\n  max_requests_in_flight: 0\n",
            "zoom.max_requests_in_flight",
        ),
        ("server:\n  shutdown_grace: 5s\n", "server.shutdown_grace"),
        ("server:\n  max_connections: 0\n", "server.max_connections"),
        (
            "server:\n  header_read_timeout: 0s\n",
            "server.header_read_timeout",
        ),
        ("server:\n  idle_timeout: 0s\n", "server.idle_timeout"),
    ] {
        let mut s = Settings::from_yaml("t.yaml", yaml).expect("parses");
        s.secrets = Secrets::from_env(&env).expect("secrets");
        let err = s.validate().unwrap_err().to_string();
        assert!(err.contains(name), "{yaml}: {err}");
    }
}

#[test]
fn validation_catches_nonsense() {
    let env = env_of(SECRETS);
    let mut s = Settings::from_yaml("t.yaml", "zoom:\n  requests_per_second: 0\n").expect("parses");
    s.secrets = Secrets::from_env(&env).expect("secrets");
    assert!(
        s.validate()
            .unwrap_err()
            .to_string()
            .contains("requests_per_second")
    );
}

/// `variable → setting` of README's configuration table (the one whose
/// header starts `| setting | environment variable |`); `—` rows have
/// no variable.
fn readme_environment_table(readme: &str) -> BTreeMap<String, String> {
    let mut lines = readme
        .lines()
        .skip_while(|line| !line.starts_with("| setting | environment variable |"))
        .skip(2); // the header and its |---| line
    let mut table = BTreeMap::new();
    for line in lines.by_ref().take_while(|line| line.starts_with('|')) {
        let cells: Vec<&str> = line
            .split('|')
            .map(|cell| cell.trim().trim_matches('`'))
            .collect();
        let (setting, variable) = (cells[1], cells[2]);
        if variable != "—" {
            table.insert(variable.to_owned(), setting.to_owned());
        }
    }
    table
}

#[test]
fn the_database_url_comes_from_the_environment_first_and_is_never_shown() {
    let mut settings = Settings::default();
    assert!(settings.database_url().is_none(), "SQLite by default");
    settings.store.url = Some("postgres://db.internal/qoswatch".into());
    assert_eq!(
        settings.database_url().unwrap().expose_secret(),
        "postgres://db.internal/qoswatch"
    );
    let secrets = Secrets::from_env(&env_of(&[
        (
            "QOSWATCH_DATABASE_URL",
            "postgresql://qoswatch@db.prod:5432/qw?sslmode=verify-full",
        ),
        ("QOSWATCH_DATABASE_PASSWORD", "hunter2"),
    ]))
    .expect("secrets");
    settings.secrets = secrets;
    assert_eq!(
        settings.database_url().unwrap().expose_secret(),
        "postgresql://qoswatch@db.prod:5432/qw?sslmode=verify-full",
        "the environment wins over store.url"
    );
    assert_eq!(
        settings
            .secrets
            .database_password
            .as_ref()
            .unwrap()
            .expose_secret(),
        "hunter2"
    );
    settings.secrets.database_url = Some(SecretString::from(
        "mysql://root:s3cret@db/qoswatch".to_owned(),
    ));
    let error = settings.validate().expect_err("not PostgreSQL").to_string();
    assert!(error.contains("postgres://"), "{error}");
    assert!(
        !error.contains("s3cret") && !error.contains("mysql"),
        "{error}"
    );
}

#[test]
fn readme_lists_exactly_the_environment_variables_of_the_table() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let documented = readme_environment_table(&readme);
    let read: BTreeMap<String, String> = ENV_SETTINGS
        .iter()
        .map(|e| (e.name.to_owned(), e.setting.to_owned()))
        .collect();
    let undocumented: Vec<&String> = read
        .keys()
        .filter(|v| !documented.contains_key(*v))
        .collect();
    let not_read: Vec<&String> = documented
        .keys()
        .filter(|v| !read.contains_key(*v))
        .collect();
    assert!(
        undocumented.is_empty() && not_read.is_empty(),
        "README.md's configuration table and config::ENV_SETTINGS disagree\n\
         read by qoswatch but not in README: {undocumented:?}\n\
         in README but not read by qoswatch: {not_read:?}"
    );
    for (variable, setting) in &read {
        assert_eq!(
            &documented[variable], setting,
            "README.md pairs {variable} with another setting than config::ENV_SETTINGS"
        );
    }
}

#[test]
fn every_variable_of_the_table_sets_its_setting() {
    let pairs = [
        ("QOSWATCH_LISTEN", "127.0.0.1:9"),
        ("QOSWATCH_ADMIN_LISTEN", "127.0.0.1:19"),
        ("QOSWATCH_LEGACY_PUBLIC_ENDPOINTS", "no"),
        ("QOSWATCH_MAX_BODY_BYTES", "2048"),
        ("QOSWATCH_SHUTDOWN_GRACE", "21s"),
        ("QOSWATCH_MAX_CONNECTIONS", "64"),
        ("QOSWATCH_HEADER_READ_TIMEOUT", "4s"),
        ("QOSWATCH_IDLE_TIMEOUT", "2m"),
        ("QOSWATCH_TLS_CERT_FILE", "/etc/qoswatch/tls/tls.crt"),
        ("QOSWATCH_TLS_KEY_FILE", "/etc/qoswatch/tls/tls.key"),
        ("QOSWATCH_REPLAY_WINDOW", "2m"),
        ("QOSWATCH_ZOOM_API_BASE", " http://zoom.test/v2 "),
        ("QOSWATCH_ZOOM_TOKEN_URL", "http://zoom.test/oauth/token"),
        ("QOSWATCH_ZOOM_REQUEST_TIMEOUT", "3s"),
        ("QOSWATCH_ZOOM_REQUESTS_PER_SECOND", "7"),
        ("QOSWATCH_ZOOM_DAILY_LIMIT", "900"),
        ("QOSWATCH_ZOOM_RATE_SHARE", "0.5"),
        ("QOSWATCH_ZOOM_DAILY_SHARE", " 0.25 "),
        ("QOSWATCH_ZOOM_TOKEN_REFRESH_MARGIN", "1m"),
        ("QOSWATCH_ZOOM_MAX_ANSWER_BYTES", "1048576"),
        ("QOSWATCH_ZOOM_MAX_REQUESTS_IN_FLIGHT", "5"),
        ("QOSWATCH_POLL_MODE", "fixed"),
        ("QOSWATCH_POLL_INTERVAL", "30s"),
        ("QOSWATCH_POLL_MAX_INTERVAL", "3m"),
        ("QOSWATCH_POLL_MAX_STALENESS", "20m"),
        ("QOSWATCH_POLL_PAGE_SIZE", "30"),
        ("QOSWATCH_STALE_AFTER", "4m"),
        ("QOSWATCH_MAX_WATCH_AGE", "2h"),
        ("QOSWATCH_MAX_BACKOFF", "90s"),
        ("QOSWATCH_MAX_WATCHERS", "12"),
        ("QOSWATCH_MAX_REMEMBERED_ENDED", "5000"),
        ("QOSWATCH_QSS_FALLBACK_AFTER", "90s"),
        ("QOSWATCH_RULES_FILE", "rules.yaml"),
        ("QOSWATCH_SMTP_HOST", "relay.test"),
        ("QOSWATCH_SMTP_PORT", "2525"),
        ("QOSWATCH_SMTP_TLS", "implicit"),
        ("QOSWATCH_SMTP_USERNAME", "mailer"),
        ("QOSWATCH_SMTP_FROM", "qoswatch@example.com"),
        ("QOSWATCH_ALERT_GROUP_WINDOW", "0s"),
        ("QOSWATCH_ZOOM_MEETING_ALERTS", "yes"),
        ("QOSWATCH_DATA_DIR", "/srv/qoswatch"),
        ("QOSWATCH_STORE_SYNCHRONOUS", "normal"),
        ("QOSWATCH_STORE_RETENTION", "3d"),
        ("QOSWATCH_LEASE_TTL", "20s"),
        ("QOSWATCH_REPLICA_NAME", " qoswatch-b "),
        ("QOSWATCH_LOG_FORMAT", "pretty"),
        ("QOSWATCH_LOG_FILTER", "qoswatch=debug"),
    ];
    assert_eq!(
        pairs.iter().map(|(name, _)| *name).collect::<Vec<_>>(),
        overlay_names().collect::<Vec<_>>(),
        "this test covers every variable of ENV_SETTINGS, in order"
    );
    let mut s = Settings::default();
    s.apply_env(&env_of(&pairs)).expect("applies");
    assert_eq!(s.server.listen, "127.0.0.1:9".parse().expect("address"));
    assert_eq!(
        s.server.admin_listen,
        "127.0.0.1:19".parse().expect("address")
    );
    assert!(!s.server.legacy_public_endpoints);
    assert_eq!(s.server.max_body_bytes, 2048);
    assert_eq!(s.server.shutdown_grace, Duration::from_secs(21));
    assert_eq!(s.server.max_connections, 64);
    assert_eq!(
        s.server.tls.files(),
        Some((
            &PathBuf::from("/etc/qoswatch/tls/tls.crt"),
            &PathBuf::from("/etc/qoswatch/tls/tls.key")
        ))
    );
    assert_eq!(s.server.header_read_timeout, Duration::from_secs(4));
    assert_eq!(s.server.idle_timeout, Duration::from_secs(120));
    assert_eq!(s.webhook.replay_window, Duration::from_secs(120));
    assert_eq!(s.zoom.api_base, "http://zoom.test/v2");
    assert_eq!(s.zoom.token_url, "http://zoom.test/oauth/token");
    assert_eq!(s.zoom.request_timeout, Duration::from_secs(3));
    assert_eq!(s.zoom.requests_per_second, 7);
    assert_eq!(s.zoom.daily_limit, 900);
    assert_eq!(s.zoom.rate_share, 0.5);
    assert_eq!(s.zoom.daily_share, 0.25);
    assert_eq!(s.zoom.token_refresh_margin, Duration::from_secs(60));
    assert_eq!(s.zoom.max_answer_bytes, 1_048_576);
    assert_eq!(s.zoom.max_requests_in_flight, 5);
    assert_eq!(s.polling.mode, PollingMode::Fixed);
    assert_eq!(s.polling.interval, Duration::from_secs(30));
    assert_eq!(s.polling.max_interval, Duration::from_secs(180));
    assert_eq!(s.polling.max_staleness, Duration::from_secs(1200));
    assert_eq!(s.polling.page_size, 30);
    assert_eq!(s.polling.stale_after, Duration::from_secs(240));
    assert_eq!(s.polling.max_watch_age, Duration::from_secs(7200));
    assert_eq!(s.polling.max_backoff, Duration::from_secs(90));
    assert_eq!(s.polling.max_watchers, 12);
    assert_eq!(s.polling.max_remembered_ended, 5000);
    assert_eq!(s.qss.fallback_after, Duration::from_secs(90));
    assert_eq!(s.rules.file, Some(PathBuf::from("rules.yaml")));
    let smtp = s.alerts.smtp.as_ref().expect("smtp from the environment");
    assert_eq!(smtp.host, "relay.test");
    assert_eq!(smtp.port, 2525);
    assert_eq!(smtp.tls, crate::notify::SmtpTls::Implicit);
    assert_eq!(smtp.username.as_deref(), Some("mailer"));
    assert_eq!(smtp.from, "qoswatch@example.com");
    assert_eq!(s.alerts.dispatch.group_window, Duration::ZERO);
    assert!(s.alerts.zoom_meeting_alerts.enabled);
    assert_eq!(s.store.data_dir, Some(PathBuf::from("/srv/qoswatch")));
    assert_eq!(s.store.synchronous, crate::store::Synchronous::Normal);
    assert_eq!(s.store.retention, Duration::from_secs(3 * 86400));
    assert_eq!(s.store.lease_ttl, Duration::from_secs(20));
    assert_eq!(s.store.heartbeat(), Duration::from_secs(20) / 3);
    assert_eq!(s.store.replica_name.as_deref(), Some("qoswatch-b"));
    assert_eq!(s.log.format, LogFormat::Pretty);
    assert_eq!(s.log.filter, "qoswatch=debug");

    // Empty means none for the optional ones.
    let mut s = Settings::default();
    s.rules.file = Some(PathBuf::from("from-the-file.yaml"));
    let empty = env_of(&[
        ("QOSWATCH_RULES_FILE", " "),
        ("QOSWATCH_SMTP_USERNAME", ""),
        ("QOSWATCH_DATA_DIR", ""),
    ]);
    s.apply_env(&empty).expect("applies");
    assert_eq!(s.rules.file, None);
    assert_eq!(s.store.data_dir, None);
    assert_eq!(
        s.alerts
            .smtp
            .as_ref()
            .and_then(|smtp| smtp.username.clone()),
        None
    );
}

#[test]
fn several_accounts_come_from_the_file_and_their_secrets_from_the_environment() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("qoswatch.yaml");
    std::fs::write(
        &path,
        "zoom:\n  daily_limit: 30000\naccounts:\n  - name: acme\n    account_id: zoom-acme\n  \
         - name: globex-eu\n    account_id: zoom-globex\n    api_base: https://api-eu.zoom.us/v2\n    \
         daily_limit: 60000\n    client_secret_env: GLOBEX_S2S\n",
    )
    .expect("write");
    let full = [
        ("ZOOM_ACME_CLIENT_ID", "cid-a"),
        ("ZOOM_ACME_CLIENT_SECRET", "csec-a"),
        ("ZOOM_ACME_WEBHOOK_SECRET_TOKEN", "wh-a"),
        ("ZOOM_GLOBEX_EU_CLIENT_ID", "cid-g"),
        ("GLOBEX_S2S", "csec-g"),
        ("ZOOM_GLOBEX_EU_WEBHOOK_SECRET_TOKEN", "wh-g"),
    ];
    let settings = Settings::load(Some(&path), &env_of(&full)).expect("loads");
    let accounts = settings.zoom_accounts();
    let names: Vec<&str> = accounts.iter().map(|a| a.account.as_str()).collect();
    assert_eq!(names, ["acme", "globex-eu"]);
    let globex = &accounts[1];
    assert_eq!(globex.zoom.api_base, "https://api-eu.zoom.us/v2");
    assert_eq!(globex.zoom.daily_limit, 60_000);
    assert_eq!(accounts[0].zoom.daily_limit, 30_000, "zoom:'s, unset");
    let credentials = globex.credentials().expect("complete");
    assert_eq!(credentials.client_secret.expose_secret(), "csec-g");
    assert_eq!(credentials.account_id.expose_secret(), "zoom-globex");
    // No ZOOM_* single-account variables are needed (nor read).
    assert!(settings.secrets.webhook_secret_tokens.is_empty());

    // Each missing secret is named by its variable, never by a value.
    for missing in [
        "ZOOM_ACME_WEBHOOK_SECRET_TOKEN",
        "GLOBEX_S2S",
        "ZOOM_GLOBEX_EU_CLIENT_ID",
    ] {
        let partial: Vec<(&str, &str)> = full
            .iter()
            .copied()
            .filter(|(k, _)| *k != missing)
            .collect();
        let error = Settings::load(Some(&path), &env_of(&partial))
            .unwrap_err()
            .to_string();
        assert!(error.contains(missing), "{error}");
        assert!(!error.contains("csec"), "{error}");
    }
}

#[test]
fn bad_accounts_are_refused_naming_the_setting() {
    for (yaml, expected) in [
        (
            "accounts:\n  - name: Acme\n    account_id: a\n",
            "accounts[].name",
        ),
        (
            "accounts:\n  - name: acme\n    account_id: a\n  - name: acme\n    account_id: b\n",
            "same name",
        ),
        (
            "accounts:\n  - name: acme\n    account_id: \"\"\n",
            "accounts[].account_id",
        ),
        (
            "accounts:\n  - name: acme\n    account_id: a\n    rate_share: 2\n",
            "zoom.rate_share",
        ),
        ("accounts:\n  - name: acme\n    acount_id: a\n", "acount_id"),
    ] {
        let error = match Settings::from_yaml("t.yaml", yaml) {
            Err(error) => error.to_string(),
            Ok(mut settings) => {
                settings.apply_env(&env_of(&[])).expect("no overlay");
                settings.validate().unwrap_err().to_string()
            }
        };
        assert!(error.contains(expected), "{yaml}: {error}");
    }
}

#[test]
fn without_accounts_the_single_account_is_today_s_settings() {
    let settings = Settings::load(None, &env_of(SECRETS)).expect("loads");
    let accounts = settings.zoom_accounts();
    assert_eq!(accounts.len(), 1);
    let single = &accounts[0];
    assert!(single.account.is_default());
    assert_eq!(single.account_id.as_deref(), Some("acct-3Lp2"));
    assert_eq!(single.zoom.api_base, settings.zoom.api_base);
    assert_eq!(
        single
            .credentials()
            .expect("complete")
            .client_id
            .expose_secret(),
        "cid-8Vn4"
    );
    assert_eq!(single.webhook_tokens.len(), 1);
}
