//! Wiring: starts the configured roles, management listeners, TLS, databases, health and shutdown
