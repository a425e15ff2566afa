//! `qoswatch serve` as real processes (one test binary, `--test processes`):
//! `restart`: nothing lost when one process is killed or stopped on its data
//! directory and started again; `cluster`: several replicas on one
//! PostgreSQL database. Processes, waits, Slack: `qoswatch-testkit`.

mod accounts;
mod cluster;
mod restart;
mod setup;
