//! `--record FILE` and `--input FILE`: what a fetch brought back, saved as
//! gzip-compressed JSON Lines so that later runs cost no Zoom quota.
//!
//! ```text
//! {"format":"qoswatch-backtest-recording","version":1,"recorded_at":"…","qoswatch":"0.1.0"}
//! {"meeting":{"uuid":"…","id":"…","topic":"…","start_time":"…","end_time":"…"}}
//! {"participant":{"user_id":"…","user_name":"…","device":"…",…,"user_qos":[…]}}
//! …
//! {"end":{"meetings":2,"participants":9,"problems":[]}}
//! ```
//!
//! A participant line belongs to the meeting line before it; participant
//! objects keep only `fetch::KEPT_PARTICIPANT_FIELDS` (display names, no
//! e-mail, no IP). The end line makes a cut-short file detectable; it
//! carries what the fetch could not get, so a replay of the recording says
//! the same. The file is written as `FILE.partial` and renamed when
//! complete; an existing `FILE` is never overwritten.

use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use chrono::{SecondsFormat, Utc};
use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use serde_json::Value as Json;

use super::fetch::{Problem, reduced};
use super::replay::MeetingData;
use crate::zoom::client::PastMeeting;

/// The `format` of the header line.
pub const FORMAT: &str = "qoswatch-backtest-recording";
/// The version this qoswatch writes and reads.
pub const VERSION: u64 = 1;

/// Why a recording cannot be written or read. Every message names the file.
#[derive(Debug, thiserror::Error)]
pub enum RecordingError {
    #[error(
        "{path}: already exists; qoswatch does not overwrite a recording (choose another name or remove it)"
    )]
    Exists { path: String },
    #[error("{path}: {action}: {error}")]
    Io {
        path: String,
        action: &'static str,
        error: io::Error,
    },
    #[error(
        "{path}: not a qoswatch backtest recording ({why}); make one with `qoswatch backtest … --record FILE`"
    )]
    Foreign { path: String, why: String },
    #[error(
        "{path}: recording format version {version}; this qoswatch reads version {VERSION} (use the qoswatch that recorded it, or record again)"
    )]
    Version { path: String, version: u64 },
    #[error("{path}:{line}: {why}")]
    Corrupt {
        path: String,
        line: usize,
        why: String,
    },
    #[error(
        "{path}: cut short after line {line} ({why}); the recording was not finished, record it again"
    )]
    Truncated {
        path: String,
        line: usize,
        why: String,
    },
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Header {
    format: String,
    version: u64,
    #[serde(default)]
    recorded_at: Option<String>,
    #[serde(default)]
    qoswatch: Option<String>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct End {
    meetings: usize,
    participants: usize,
    #[serde(default)]
    problems: Vec<Problem>,
}

/// One line after the header.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
enum Line {
    Meeting(PastMeeting),
    Participant(Json),
    End(End),
}

/// What a recording holds.
#[derive(Debug, Default)]
pub struct Recorded {
    pub meetings: Vec<MeetingData>,
    pub problems: Vec<Problem>,
}

/// A recording being written.
pub struct RecordingWriter {
    path: PathBuf,
    partial: PathBuf,
    out: GzEncoder<BufWriter<File>>,
    meetings: usize,
    participants: usize,
}

impl std::fmt::Debug for RecordingWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordingWriter")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl RecordingWriter {
    /// Starts `path.partial`; refuses when `path` exists.
    pub fn create(path: &Path) -> Result<Self, RecordingError> {
        let shown = path.display().to_string();
        if path.exists() {
            return Err(RecordingError::Exists { path: shown });
        }
        let mut partial = path.as_os_str().to_owned();
        partial.push(".partial");
        let partial = PathBuf::from(partial);
        let file = File::create(&partial).map_err(|error| RecordingError::Io {
            path: partial.display().to_string(),
            action: "cannot create",
            error,
        })?;
        let mut writer = Self {
            path: path.to_owned(),
            partial,
            out: GzEncoder::new(BufWriter::new(file), Compression::default()),
            meetings: 0,
            participants: 0,
        };
        let header = Header {
            format: FORMAT.to_owned(),
            version: VERSION,
            recorded_at: Some(Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true)),
            qoswatch: Some(env!("CARGO_PKG_VERSION").to_owned()),
        };
        writer.line(&header)?;
        Ok(writer)
    }

    fn line(&mut self, value: &impl serde::Serialize) -> Result<(), RecordingError> {
        let written = serde_json::to_writer(&mut self.out, value)
            .map_err(io::Error::from)
            .and_then(|()| self.out.write_all(b"\n"));
        written.map_err(|error| RecordingError::Io {
            path: self.partial.display().to_string(),
            action: "cannot write",
            error,
        })
    }

    /// Appends one meeting and its participants.
    pub fn meeting(&mut self, data: &MeetingData) -> Result<(), RecordingError> {
        self.line(&Line::Meeting(data.meeting.clone()))?;
        for participant in &data.participants {
            self.line(&Line::Participant(reduced(participant)))?;
        }
        self.meetings += 1;
        self.participants += data.participants.len();
        Ok(())
    }

    /// Writes the end line, flushes, and renames the file into place.
    pub fn finish(mut self, problems: &[Problem]) -> Result<PathBuf, RecordingError> {
        let end = End {
            meetings: self.meetings,
            participants: self.participants,
            problems: problems.to_vec(),
        };
        self.line(&Line::End(end))?;
        let partial = self.partial.display().to_string();
        let io_error = |action: &'static str| {
            let path = partial.clone();
            move |error| RecordingError::Io {
                path,
                action,
                error,
            }
        };
        let buffered = self.out.finish().map_err(io_error("cannot write"))?;
        let file = buffered
            .into_inner()
            .map_err(|error| error.into_error())
            .map_err(io_error("cannot write"))?;
        file.sync_all().map_err(io_error("cannot write"))?;
        if self.path.exists() {
            return Err(RecordingError::Exists {
                path: self.path.display().to_string(),
            });
        }
        std::fs::rename(&self.partial, &self.path).map_err(io_error("cannot rename into place"))?;
        Ok(self.path)
    }
}

/// Reads a whole recording into memory (tests, small files).
pub fn read_all(path: &Path) -> Result<Recorded, RecordingError> {
    let mut meetings = Vec::new();
    let problems = read(path, |meeting| meetings.push(meeting))?;
    Ok(Recorded { meetings, problems })
}

/// Reads a recording, checking its header, every line and its end; hands
/// each meeting to `each` once its participants are read (a later error
/// still fails the whole read); what the fetch could not get.
pub fn read(
    path: &Path,
    mut each: impl FnMut(MeetingData),
) -> Result<Vec<Problem>, RecordingError> {
    let shown = path.display().to_string();
    let file = File::open(path).map_err(|error| RecordingError::Io {
        path: shown.clone(),
        action: "cannot open",
        error,
    })?;
    let mut lines = BufReader::new(GzDecoder::new(BufReader::new(file))).lines();
    check_header(&shown, lines.next())?;
    let mut current: Option<MeetingData> = None;
    let mut meetings = 0;
    let mut participants = 0;
    let mut number = 1;
    for line in lines {
        let line = line.map_err(|error| unreadable(&shown, number, error))?;
        number += 1;
        let corrupt = |why: String| RecordingError::Corrupt {
            path: shown.clone(),
            line: number,
            why,
        };
        let parsed: Line = serde_json::from_str(&line)
            .map_err(|error| corrupt(format!("not a recording line: {error}")))?;
        match parsed {
            Line::Meeting(meeting) => {
                if let Some(done) = current.take() {
                    each(done);
                }
                meetings += 1;
                current = Some(MeetingData {
                    meeting,
                    participants: Vec::new(),
                });
            }
            Line::Participant(object) => {
                if !object.is_object() {
                    return Err(corrupt("a participant that is not an object".to_owned()));
                }
                let Some(meeting) = current.as_mut() else {
                    return Err(corrupt("a participant before any meeting".to_owned()));
                };
                meeting.participants.push(object);
                participants += 1;
            }
            Line::End(end) => {
                if (end.meetings, end.participants) != (meetings, participants) {
                    return Err(corrupt(format!(
                        "the end line counts {} meetings and {} participants, the file holds {meetings} and {participants}",
                        end.meetings, end.participants,
                    )));
                }
                if let Some(done) = current.take() {
                    each(done);
                }
                return Ok(end.problems);
            }
        }
    }
    Err(RecordingError::Truncated {
        path: shown,
        line: number,
        why: "no end line".to_owned(),
    })
}

/// The first line: a header of this format, at this version.
fn check_header(shown: &str, first: Option<io::Result<String>>) -> Result<(), RecordingError> {
    let first = match first {
        None => {
            return Err(RecordingError::Foreign {
                path: shown.to_owned(),
                why: "the file is empty".to_owned(),
            });
        }
        Some(Err(error)) => return Err(unreadable(shown, 0, error)),
        Some(Ok(line)) => line,
    };
    let header: Header = serde_json::from_str(&first).map_err(|_| RecordingError::Foreign {
        path: shown.to_owned(),
        why: "its first line is not a recording header".to_owned(),
    })?;
    if header.format != FORMAT {
        return Err(RecordingError::Foreign {
            path: shown.to_owned(),
            why: format!("its format is {:?}", header.format),
        });
    }
    if header.version != VERSION {
        return Err(RecordingError::Version {
            path: shown.to_owned(),
            version: header.version,
        });
    }
    Ok(())
}

/// A line that could not be read: not gzip at all, or compressed data that
/// stops half-way.
fn unreadable(path: &str, line: usize, error: io::Error) -> RecordingError {
    if line == 0 {
        return RecordingError::Foreign {
            path: path.to_owned(),
            why: format!("not gzip-compressed JSON Lines: {error}"),
        };
    }
    RecordingError::Truncated {
        path: path.to_owned(),
        line,
        why: format!("the compressed data is damaged or ends early: {error}"),
    }
}
