//! The Kubernetes manifests' own files with the real server: the settings
//! and rules of `deploy/kubernetes/base`, mounted the way the kubelet mounts
//! a ConfigMap (a timestamped directory, a `..data` symlink to it, one
//! symlink per key), then a ConfigMap update swapped in the way the kubelet
//! does it: no event ever names `rules.yaml` itself.

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::time::Duration;

use qoswatch_testkit::Spawn;
use qoswatch_testkit::metrics::Scraper;

const BIN: &str = env!("CARGO_BIN_EXE_qoswatch");
const WITHIN: Duration = Duration::from_secs(20);
const EVERY: Duration = Duration::from_millis(100);

/// A ConfigMap volume as the kubelet's atomic writer lays it out.
struct ConfigMapVolume {
    dir: tempfile::TempDir,
    generation: u32,
}

impl ConfigMapVolume {
    fn new(files: &[(&str, &str)]) -> ConfigMapVolume {
        let volume = ConfigMapVolume {
            dir: tempfile::tempdir().expect("dir"),
            generation: 0,
        };
        let data = volume.write_generation(files);
        symlink(&data, volume.path().join("..data")).expect("..data");
        for (key, _) in files {
            symlink(Path::new("..data").join(key), volume.path().join(key)).expect("key link");
        }
        volume
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// A new timestamped directory with the files; its name.
    fn write_generation(&self, files: &[(&str, &str)]) -> PathBuf {
        let name = PathBuf::from(format!(
            "..2026_12_06_20_00_{:02}.{}",
            self.generation, 4242
        ));
        std::fs::create_dir(self.path().join(&name)).expect("generation dir");
        for (key, text) in files {
            std::fs::write(self.path().join(&name).join(key), text).expect("file");
        }
        name
    }

    /// The kubelet's update: the new generation, `..data_tmp` pointing at
    /// it, renamed over `..data` (atomic), the old generation removed.
    fn update(&mut self, files: &[(&str, &str)]) {
        let old = std::fs::read_link(self.path().join("..data")).expect("..data");
        self.generation += 1;
        let data = self.write_generation(files);
        symlink(&data, self.path().join("..data_tmp")).expect("..data_tmp");
        std::fs::rename(self.path().join("..data_tmp"), self.path().join("..data"))
            .expect("swap ..data");
        std::fs::remove_dir_all(self.path().join(old)).expect("old generation");
    }
}

fn shipped(path: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_manifests_files_start_the_server_and_a_swapped_configmap_reloads_the_rules() {
    let settings = ConfigMapVolume::new(&[(
        "qoswatch.yaml",
        &shipped("deploy/kubernetes/base/settings.yaml"),
    )]);
    let shipped_rules = shipped("deploy/kubernetes/base/rules.yaml");
    let mut rules = ConfigMapVolume::new(&[("rules.yaml", &shipped_rules)]);
    // The pod's environment (components/pod/pod.yaml); the listeners on
    // free loopback ports instead of the settings' 0.0.0.0.
    let server = Spawn::new(BIN)
        .arg("serve")
        .free_ports()
        .temp_data_dir()
        .env(
            "QOSWATCH_CONFIG",
            settings.path().join("qoswatch.yaml").display().to_string(),
        )
        .env(
            "QOSWATCH_RULES_FILE",
            rules.path().join("rules.yaml").display().to_string(),
        )
        .env("ZOOM_WEBHOOK_SECRET_TOKEN", "x")
        .env("ZOOM_ACCOUNT_ID", "x")
        .env("ZOOM_CLIENT_ID", "x")
        .env("ZOOM_CLIENT_SECRET", "x")
        .start();
    let admin = server.admin_address().await;
    let ready = reqwest::get(format!("http://{admin}/readyz"))
        .await
        .expect("readyz");
    assert_eq!(ready.status(), 200, "the readiness probe's path answers");
    let scraper = Scraper::new(admin);
    let loaded = scraper
        .until("qoswatch_rules_loaded", WITHIN, EVERY, |n| n == 3.0)
        .await;
    assert_eq!(loaded, Some(3.0), "the shipped rules in force");

    // `kubectl apply` of an edited ConfigMap: one more rule.
    let more = format!(
        "{shipped_rules}\n  - name: zoom-cpu\n    metric: cpu_usage.zoom_max_cpu_usage\n    above: {{ warning: 80% }}\n"
    );
    rules.update(&[("rules.yaml", &more)]);
    let loaded = scraper
        .until("qoswatch_rules_loaded", WITHIN, EVERY, |n| n == 4.0)
        .await;
    assert_eq!(
        loaded,
        Some(4.0),
        "the swapped rules in force:\n{}",
        server.logs()
    );

    // An invalid edit is rejected and the last good rules stay.
    rules.update(&[(
        "rules.yaml",
        "rules:\n  - { name: x, metric: audio_input.latncy, above: 1ms }\n",
    )]);
    let failures = scraper
        .until("qoswatch_rules_reload_failures_total", WITHIN, EVERY, |n| {
            n == 1.0
        })
        .await;
    assert_eq!(failures, Some(1.0), "{}", server.logs());
    assert_eq!(scraper.value("qoswatch_rules_loaded").await, Some(4.0));
    assert!(
        server.log_count("audio_input.latncy") >= 1,
        "the rejection names the problem:\n{}",
        server.logs()
    );
}
