//! Hostile clients on raw sockets. Each holds one connection as told and
//! reports when the server closed it, and what it had received by then.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;

/// What one hostile connection does.
#[derive(Debug, Clone)]
pub enum Behaviour {
    /// Connects and sends nothing.
    Idle,
    /// Sends `first`, then nothing.
    Stall { first: &'static [u8] },
    /// Sends a request line, then one header line every `every`, forever.
    Slowloris { every: Duration },
}

/// The server closed connection `index` `after` it was opened.
#[derive(Debug, Clone)]
pub struct Closed {
    pub index: usize,
    pub after: Duration,
    pub received: Vec<u8>,
}

/// A crowd of hostile connections, all held until the server closes them
/// or the crowd is dropped.
pub struct Crowd {
    pub opened: usize,
    closed: mpsc::UnboundedReceiver<Closed>,
    received: mpsc::UnboundedReceiver<usize>,
    pub seen: Vec<Closed>,
    answered: usize,
    _tasks: JoinSet<()>,
}

impl Crowd {
    /// Opens `count` connections one after the other (each connected
    /// before the next is opened), then lets each behave.
    pub async fn open(address: SocketAddr, count: usize, behaviour: Behaviour) -> Crowd {
        let (report, closed) = mpsc::unbounded_channel();
        let (first_bytes, received) = mpsc::unbounded_channel();
        let mut tasks = JoinSet::new();
        for index in 0..count {
            let stream = TcpStream::connect(address).await.expect("connects");
            let reports = Reports {
                closed: report.clone(),
                received: first_bytes.clone(),
            };
            tasks.spawn(hold(index, stream, behaviour.clone(), reports));
        }
        Crowd {
            opened: count,
            closed,
            received,
            seen: Vec::new(),
            answered: 0,
            _tasks: tasks,
        }
    }

    /// Opens `count` connections all at once, as a flood does (some wait
    /// in the system's listen queue), then lets each behave; a connect
    /// that fails counts as closed at once.
    pub async fn burst(address: SocketAddr, count: usize, behaviour: Behaviour) -> Crowd {
        let (report, closed) = mpsc::unbounded_channel();
        let (first_bytes, received) = mpsc::unbounded_channel();
        let mut tasks = JoinSet::new();
        for index in 0..count {
            let reports = Reports {
                closed: report.clone(),
                received: first_bytes.clone(),
            };
            let behaviour = behaviour.clone();
            tasks.spawn(async move {
                match TcpStream::connect(address).await {
                    Ok(stream) => hold(index, stream, behaviour, reports).await,
                    Err(_) => report_closed(index, Instant::now(), Vec::new(), &reports.closed),
                }
            });
        }
        Crowd {
            opened: count,
            closed,
            received,
            seen: Vec::new(),
            answered: 0,
            _tasks: tasks,
        }
    }

    /// Waits until `count` connections in all have received their first
    /// bytes, or `within` passed; returns how many have.
    pub async fn wait_received(&mut self, count: usize, within: Duration) -> usize {
        let deadline = Instant::now() + within;
        while self.answered < count {
            match tokio::time::timeout_at(deadline, self.received.recv()).await {
                Ok(Some(_)) => self.answered += 1,
                Ok(None) | Err(_) => break,
            }
        }
        self.answered
    }

    /// Collects closures until `count` in all were seen or `within` passed;
    /// returns how many were seen.
    pub async fn wait_closed(&mut self, count: usize, within: Duration) -> usize {
        let deadline = Instant::now() + within;
        while self.seen.len() < count {
            match tokio::time::timeout_at(deadline, self.closed.recv()).await {
                Ok(Some(closed)) => self.seen.push(closed),
                Ok(None) | Err(_) => break,
            }
        }
        self.seen.len()
    }

    /// Takes the closures reported so far without waiting.
    pub fn collect(&mut self) -> usize {
        while let Ok(closed) = self.closed.try_recv() {
            self.seen.push(closed);
        }
        self.seen.len()
    }
}

struct Reports {
    closed: mpsc::UnboundedSender<Closed>,
    received: mpsc::UnboundedSender<usize>,
}

async fn hold(index: usize, mut stream: TcpStream, behaviour: Behaviour, reports: Reports) {
    let report = &reports.closed;
    let opened = Instant::now();
    let mut received = Vec::new();
    let mut trickle = None;
    match behaviour {
        Behaviour::Idle => {}
        Behaviour::Stall { first } => {
            if stream.write_all(first).await.is_err() {
                return report_closed(index, opened, received, report);
            }
        }
        Behaviour::Slowloris { every } => {
            if stream
                .write_all(b"POST /webhooks/zoom HTTP/1.1\r\n")
                .await
                .is_err()
            {
                return report_closed(index, opened, received, report);
            }
            trickle = Some(tokio::time::interval_at(opened + every, every));
        }
    }
    let mut buf = [0u8; 1024];
    loop {
        tokio::select! {
            read = stream.read(&mut buf) => match read {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if received.is_empty() {
                        let _ = reports.received.send(index);
                    }
                    received.extend_from_slice(&buf[..n]);
                }
            },
            _ = async { trickle.as_mut().expect("slowloris").tick().await }, if trickle.is_some() => {
                if stream.write_all(b"x-slow: loris\r\n").await.is_err() {
                    break;
                }
            }
        }
    }
    report_closed(index, opened, received, report);
}

fn report_closed(
    index: usize,
    opened: Instant,
    received: Vec<u8>,
    report: &mpsc::UnboundedSender<Closed>,
) {
    let _ = report.send(Closed {
        index,
        after: opened.elapsed(),
        received,
    });
}
