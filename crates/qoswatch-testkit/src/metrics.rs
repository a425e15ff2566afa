//! The one Prometheus scraper: `GET /metrics` and the value of one series.

use std::time::Duration;

use tokio::time::Instant;

/// The value of one series in an exposition text: `series` is the name with
/// its labels, exactly as exported (`qoswatch_x_total{kind="a"}`).
pub fn metric_value(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|line| {
        line.strip_prefix(series)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

/// The `/metrics` text at `url` (panics when it does not answer).
pub async fn scrape(http: &reqwest::Client, url: &str) -> String {
    try_scrape(http, url)
        .await
        .unwrap_or_else(|e| panic!("{url} answers: {e}"))
}

/// The `/metrics` text at `url`, or why not (examples report errors).
pub async fn try_scrape(http: &reqwest::Client, url: &str) -> Result<String, reqwest::Error> {
    http.get(url)
        .timeout(Duration::from_secs(5))
        .send()
        .await?
        .error_for_status()?
        .text()
        .await
}

/// A scraped endpoint: one URL, one client.
#[derive(Debug, Clone)]
pub struct Scraper {
    pub url: String,
    pub http: reqwest::Client,
}

impl Scraper {
    /// `/metrics` of the server at `address`.
    pub fn new(address: std::net::SocketAddr) -> Scraper {
        Scraper {
            url: format!("http://{address}/metrics"),
            http: reqwest::Client::new(),
        }
    }

    pub async fn text(&self) -> String {
        scrape(&self.http, &self.url).await
    }

    /// The value of one series (name with labels, as exported).
    pub async fn value(&self, series: &str) -> Option<f64> {
        metric_value(&self.text().await, series)
    }

    /// Polls until `series` satisfies `condition` or `within` passes;
    /// returns the last value.
    pub async fn until(
        &self,
        series: &str,
        within: Duration,
        every: Duration,
        condition: impl Fn(f64) -> bool,
    ) -> Option<f64> {
        let deadline = Instant::now() + within;
        loop {
            let value = self.value(series).await;
            if value.is_some_and(&condition) || Instant::now() >= deadline {
                return value;
            }
            tokio::time::sleep(every).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::metric_value;

    const TEXT: &str = "# HELP qoswatch_x_total X.\n# TYPE qoswatch_x_total counter\n\
                        qoswatch_x_total{kind=\"a\"} 3\nqoswatch_x_total{kind=\"ab\"} 4\n\
                        qoswatch_x_total 7\nqoswatch_gauge 0.25\n";

    #[test]
    fn a_series_is_found_by_its_name_and_exact_labels() {
        assert_eq!(
            metric_value(TEXT, "qoswatch_x_total{kind=\"a\"}"),
            Some(3.0)
        );
        assert_eq!(
            metric_value(TEXT, "qoswatch_x_total{kind=\"ab\"}"),
            Some(4.0)
        );
        assert_eq!(metric_value(TEXT, "qoswatch_x_total"), Some(7.0));
        assert_eq!(metric_value(TEXT, "qoswatch_gauge"), Some(0.25));
    }

    #[test]
    fn a_prefix_of_a_name_or_a_missing_series_is_none() {
        assert_eq!(metric_value(TEXT, "qoswatch_x"), None);
        assert_eq!(metric_value(TEXT, "qoswatch_x_total{kind=\"b\"}"), None);
        assert_eq!(metric_value(TEXT, "qoswatch_gau"), None);
    }
}
