//! Gateway role: the API traffic path
