//! The subcommands that are more than a call into the library: each in its
//! own file, declared here.

pub mod build;
