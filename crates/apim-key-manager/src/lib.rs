//! Key manager role: the OAuth2 server
