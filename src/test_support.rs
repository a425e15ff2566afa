//! The starting points of the service's unit tests.

pub(crate) use qoswatch_core::testing::example_event;
