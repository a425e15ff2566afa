//! A setting out of range, as every part's settings type reports it: the
//! setting's name (as written in the settings file) and what was expected.
//! Never the value: some settings carry secrets.

/// A setting out of range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// The setting, as written in the settings file (`polling.interval`).
    pub name: &'static str,
    /// What was expected, for the operator.
    pub message: &'static str,
}

impl Invalid {
    /// Fails with `name` and `message`.
    pub fn err(name: &'static str, message: &'static str) -> Result<(), Invalid> {
        Err(Invalid { name, message })
    }
}
