//! Integration tests: the real server on a random loopback port, Zoom played
//! by qoswatch's simulator on another. One test binary, so it links once.

#[path = "../common/mod.rs"]
mod common;

mod alerts;
mod batching;
mod browser;
mod helpers;
mod polling;
mod status;
mod webhooks;
