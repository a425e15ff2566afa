//! Integration tests: the real server on a random loopback port, Zoom played
//! by qoswatch's simulator on another; and `notify`, the channels over real
//! sockets (fake Slack from `qoswatch-testkit`, mailcrab as SMTP). One test
//! binary, so it links once.

mod alerts;
mod amtool;
mod batching;
mod browser;
mod channels;
mod freshness;
mod helpers;
mod notify;
mod polling;
mod qss;
mod simulator;
mod status;
mod webhooks;
mod webinars;
