//! One module per subcommand; each turns its flags into a plan, calls the libraries and prints.

pub mod completion;
pub mod learn;
pub mod profile;
pub mod proxy;
pub mod run;
pub mod setup;
pub mod why;
pub mod wrap;
