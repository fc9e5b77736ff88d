//! Domain model shared by every role: node roles, users and user-store roles, ids, password hashing.
//!
//! This crate does no IO. It knows nothing about configuration files, databases or HTTP.

#![forbid(unsafe_code)]

pub mod api;
pub mod clock;
pub mod custom;
pub mod keys;
pub mod oauth;
pub mod password;
pub mod policy;
pub mod role;
pub mod scopes;
pub mod user;
pub mod vocab;

pub use role::NodeRole;
pub use user::{Role, User, UserId};
