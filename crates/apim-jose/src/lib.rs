//! JOSE and crypto primitives every role shares: the key manager signs tokens, the gateway verifies them, the
//! control plane signs API keys. One crypto provider (aws-lc) for the whole workspace.

#![forbid(unsafe_code)]

pub mod crypto;
pub mod jwt;
pub mod x509;
