//! What the backtest refuses, with exit code 2 and no report: files that
//! are not recordings (or not whole ones), a broken rules file, missing
//! credentials and a bad command line.

use std::collections::HashMap;
use std::time::Duration;

use qoswatch_testkit::Spawn;

use super::RULES;
use super::harness::{self, backtest, path_str, temp_dir, write};

#[tokio::test]
async fn bad_recordings_rules_and_settings_are_refused_clearly() {
    let dir = temp_dir("bad");
    let rules = write(&dir, "rules.yaml", RULES);
    let env = HashMap::new();
    let refused = |run: &harness::Run, needle: &str| {
        assert_eq!(run.code, 2, "{}\n{}", run.stdout, run.stderr);
        assert!(
            run.stderr.contains(needle),
            "{needle:?} not in {}",
            run.stderr
        );
        assert_eq!(run.stdout, "", "no report");
    };
    let gzip = |name: &str, text: &str| {
        let path = dir.join(name);
        let mut encoder = flate2::write::GzEncoder::new(
            std::fs::File::create(&path).expect("file"),
            flate2::Compression::default(),
        );
        std::io::Write::write_all(&mut encoder, text.as_bytes()).expect("write");
        encoder.finish().expect("gzip");
        path
    };
    let input = |path: &std::path::Path| {
        let rules = path_str(&rules).to_owned();
        let path = path_str(path).to_owned();
        let env = env.clone();
        async move { backtest(&[&rules, "--input", &path], &env).await }
    };

    let plain = write(&dir, "plain.txt", "user_id,latency\n1,200\n");
    refused(
        &input(&plain).await,
        "plain.txt: not a qoswatch backtest recording (not gzip-compressed",
    );
    let foreign = gzip("foreign.gz", "{\"hello\":\"world\"}\n");
    refused(
        &input(&foreign).await,
        "foreign.gz: not a qoswatch backtest recording (its first line is not a recording header)",
    );
    let newer = gzip(
        "newer.gz",
        "{\"format\":\"qoswatch-backtest-recording\",\"version\":2}\n{\"end\":{\"meetings\":0,\"participants\":0}}\n",
    );
    refused(
        &input(&newer).await,
        "newer.gz: recording format version 2; this qoswatch reads version 1",
    );
    let unfinished = gzip(
        "unfinished.gz",
        "{\"format\":\"qoswatch-backtest-recording\",\"version\":1}\n{\"meeting\":{\"uuid\":\"m==\",\"id\":null,\"topic\":null,\"start_time\":null,\"end_time\":null}}\n",
    );
    refused(
        &input(&unfinished).await,
        "unfinished.gz: cut short after line 2 (no end line)",
    );
    let garbled = gzip(
        "garbled.gz",
        "{\"format\":\"qoswatch-backtest-recording\",\"version\":1}\n{\"participant\":{\"user_id\":\"1\"}}\n",
    );
    refused(
        &input(&garbled).await,
        "garbled.gz:2: a participant before any meeting",
    );
    // A real recording cut in the middle of its compressed data.
    let whole = gzip(
        "whole.gz",
        &format!(
            "{{\"format\":\"qoswatch-backtest-recording\",\"version\":1}}\n{}{{\"end\":{{\"meetings\":1,\"participants\":0}}}}\n",
            "{\"meeting\":{\"uuid\":\"m==\",\"id\":null,\"topic\":null,\"start_time\":null,\"end_time\":null}}\n"
        ),
    );
    let ok = input(&whole).await;
    assert_eq!(ok.code, 0, "{}", ok.stderr);
    let bytes = std::fs::read(&whole).expect("bytes");
    let cut = write(&dir, "cut.gz", "");
    std::fs::write(&cut, &bytes[..bytes.len() - 12]).expect("write");
    refused(&input(&cut).await, "cut.gz: cut short");
    refused(
        &input(&dir.join("missing.gz")).await,
        "missing.gz: cannot open",
    );

    // A broken rules file: check-rules' messages, nothing fetched.
    let broken = write(
        &dir,
        "broken.yaml",
        "rules:\n  - name: x\n    metric: audio_input.latency\n    abov: 150ms\n",
    );
    let run = backtest(&[path_str(&broken), "--input", path_str(&whole)], &env).await;
    let mut check = Spawn::new(env!("CARGO_BIN_EXE_qoswatch"))
        .args(["check-rules", path_str(&broken)])
        .capture_stdout()
        .start();
    check
        .exit_within(Duration::from_secs(30))
        .await
        .expect("check-rules ends");
    check.final_logs();
    let diagnostics = check.stdout_text();
    assert!(diagnostics.contains("broken.yaml:4:5"), "{diagnostics}");
    refused(&run, diagnostics.trim_end());

    // Fetching needs Zoom's credentials, named.
    let run = backtest(&[path_str(&rules), "--meeting", "1"], &env).await;
    refused(&run, "set environment variable ZOOM_ACCOUNT_ID");
    // Exactly one source.
    let run = backtest(&[path_str(&rules)], &env).await;
    refused(&run, "required arguments were not provided");
    let run = backtest(
        &[
            path_str(&rules),
            "--meeting",
            "1",
            "--input",
            path_str(&whole),
        ],
        &env,
    )
    .await;
    refused(&run, "cannot be used with");
}
