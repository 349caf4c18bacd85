//! Profiles: JSON policy files with `extends`, the embedded built-ins and their JSON Schema,
//! and their translation into a `CapabilitySet`, an `EnvPolicy` and a runtime `Policy`.

mod vars;

pub use vars::{VarError, Vars};
