//! The recording that ships in `examples/recordings/` (made by `qoswatch
//! demo --record`, the simulator's invented cast): `backtest --input` and
//! `--compare` work on a fresh clone, with no Zoom account (README).

use std::collections::HashMap;
use std::io::Read;
use std::path::PathBuf;

use super::harness::{backtest, path_str, temp_dir, write};

fn in_repository(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(path)
}

const RECORDING: &str = "examples/recordings/demo.jsonl.gz";

/// The demo's story (crates/qoswatch-zoomsim's `Scenario::demo`): Ana's
/// Wi-Fi, the Berlin office's uplink, Carl's CPU; what the example rules
/// say about it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shipped_recording_replays_with_the_example_rules_and_compares() {
    let rules = in_repository("rules.example.yaml");
    let recording = in_repository(RECORDING);
    let no_env = HashMap::new();
    let run = backtest(
        &[
            path_str(&rules),
            "--input",
            path_str(&recording),
            "--format",
            "json",
        ],
        &no_env,
    )
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let report = run.json();
    assert_eq!(report["complete"], true);
    assert_eq!(report["meetings"], 1);
    assert_eq!(report["participants"], 7);
    let text = serde_json::to_string(&report["rules"]).expect("json");
    for (rule, who) in [
        ("audio-latency", "Ana Alvarez"),
        ("audio-loss", "Bernd Becker"),
        ("audio-loss", "Birgit Braun"),
        ("audio-loss", "Bao Bui"),
        ("zoom-cpu", "Carl Czerny"),
    ] {
        assert!(
            text.contains(rule) && text.contains(who),
            "{rule} for {who}:\n{text}"
        );
    }

    // The README's comparison: audio loss tolerated up to 10 %. Berlin's
    // 9 % no longer fires; Ana's 12.5 % still does.
    let dir = temp_dir("shipped");
    let example = std::fs::read_to_string(&rules).expect("rules");
    let laxer = example.replace("warning: 5%, critical: 10%", "warning: 10%, critical: 15%");
    assert_ne!(laxer, example, "the README's sed still finds its line");
    let laxer = write(&dir, "laxer-loss.yaml", &laxer);
    let compared = backtest(
        &[
            path_str(&rules),
            "--input",
            path_str(&recording),
            "--compare",
            path_str(&laxer),
        ],
        &no_env,
    )
    .await;
    assert_eq!(compared.code, 0, "{}", compared.stderr);
    assert!(
        compared.stdout.contains(&format!(
            "3 only in {}, 0 only in {}",
            path_str(&rules),
            path_str(&laxer)
        )),
        "{}",
        compared.stdout
    );
    for who in ["Bernd Becker", "Birgit Braun", "Bao Bui"] {
        assert!(
            compared
                .stdout
                .contains(&format!("audio-loss warning — {who} in Q3 planning")),
            "{}",
            compared.stdout
        );
    }
}

#[test]
fn the_shipped_recording_holds_no_e_mail_or_address() {
    let file = std::fs::File::open(in_repository(RECORDING)).expect("shipped");
    let mut text = String::new();
    flate2::read::GzDecoder::new(file)
        .read_to_string(&mut text)
        .expect("gzip JSON Lines");
    assert!(text.starts_with(r#"{"format":"qoswatch-backtest-recording","version":1"#));
    assert!(!text.contains('@'), "an e-mail address");
    // The simulator answers with (documentation) addresses; the recording
    // keeps none of them.
    for kept_out in ["email", "ip_address", "192.0.2.", "198.51.100."] {
        assert!(!text.contains(kept_out), "{kept_out}");
    }
}
