//! Users and the roles of the user store (WSO2's `Internal/*` roles).

use std::fmt;

/// A user's unique id (`database_unique_id` user store): a UUID that never changes, even on rename.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct UserId(pub String);

impl UserId {
    pub fn generate() -> UserId {
        UserId(uuid::Uuid::new_v4().to_string())
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A user of the user store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub username: String,
    /// Argon2id PHC string; never the password itself.
    pub password_hash: String,
    pub roles: Vec<String>,
}

/// The roles every deployment has, as WSO2 names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Admin,
    Creator,
    Publisher,
    Subscriber,
}

impl Role {
    pub const BUILT_IN: [Role; 4] = [Role::Admin, Role::Creator, Role::Publisher, Role::Subscriber];

    pub fn name(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Creator => "Internal/creator",
            Role::Publisher => "Internal/publisher",
            Role::Subscriber => "Internal/subscriber",
        }
    }
}
