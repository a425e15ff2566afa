//! The commands of the `qoswatch` binary, one test binary (`--test cli`):
//! `serve`'s start-up errors and signals, the rules CLI's messages (golden
//! files), hot reload of the rules on the real file system, `demo` end to
//! end, and `backtest` against the simulator. Child processes are run
//! through `qoswatch-testkit`.

mod backtest;
mod demo;
mod kubernetes;
mod reload;
mod rules;
mod serve;
