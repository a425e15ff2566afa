//! Table-driven tests of the engine.
