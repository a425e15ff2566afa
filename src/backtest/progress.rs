//! How far a fetch has come, on standard error: a progress bar on a
//! terminal (indicatif), plain lines otherwise (a log file, CI), nothing
//! when there is nothing to fetch (`--input`).

use std::io::Write;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

/// Where progress goes.
pub struct Progress {
    /// On a terminal; `None`: lines.
    bar: Option<ProgressBar>,
    lines: Box<dyn Write + Send>,
    pages: u64,
    meetings_done: usize,
    meetings: usize,
}

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Progress")
            .field("pages", &self.pages)
            .field("meetings_done", &self.meetings_done)
            .finish_non_exhaustive()
    }
}

impl Progress {
    /// A bar when `terminal`, else lines written to `lines`.
    pub fn new(terminal: bool, lines: Box<dyn Write + Send>) -> Self {
        let bar = terminal.then(|| {
            let bar = ProgressBar::new_spinner();
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        Self {
            bar,
            lines,
            pages: 0,
            meetings_done: 0,
            meetings: 0,
        }
    }

    /// What is happening before the meetings are known.
    pub fn note(&mut self, text: &str) {
        match &self.bar {
            Some(bar) => bar.set_message(text.to_owned()),
            None => {
                let _ = writeln!(self.lines, "backtest: {text}");
            }
        }
    }

    /// The meetings are known: `count` to fetch.
    pub fn start_meetings(&mut self, count: usize) {
        self.meetings = count;
        match &self.bar {
            Some(bar) => {
                bar.set_length(count as u64);
                bar.set_position(0);
                bar.set_style(
                    ProgressStyle::with_template(
                        "{bar:24} {pos}/{len} meetings, {msg} [{elapsed_precise}, ~{eta} left]",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
                );
                bar.set_message("0 pages");
            }
            None => {
                let _ = writeln!(self.lines, "backtest: {count} meetings to fetch");
            }
        }
    }

    /// One page of QoS arrived.
    pub fn page(&mut self) {
        self.pages += 1;
        if let Some(bar) = &self.bar {
            bar.set_message(format!("{} pages", self.pages));
        }
    }

    /// One meeting is done (fetched or given up on).
    pub fn meeting_done(&mut self, label: &str, participants: usize) {
        self.meetings_done += 1;
        match &self.bar {
            Some(bar) => bar.inc(1),
            None => {
                let _ = writeln!(
                    self.lines,
                    "backtest: {}/{} {label}: {participants} participants, {} pages so far",
                    self.meetings_done, self.meetings, self.pages
                );
            }
        }
    }

    pub fn finish(&mut self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }

    /// The stream the lines went to, back.
    pub fn into_lines(self) -> Box<dyn Write + Send> {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        self.lines
    }
}
