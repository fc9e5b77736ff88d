//! Password authentication against the user store, with a short cache: Argon2 is deliberately slow, and
//! scripts calling the REST APIs or the key manager with HTTP Basic must not pay it on every request.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use aws_lc_rs::digest;

use crate::db::Db;
use crate::error::StoreError;
use crate::user::UserStore;

/// How long a verified password is trusted without Argon2; a password changed on another node takes effect
/// after at most this long.
const TTL: Duration = Duration::from_secs(30);

struct Cached {
    password_sha: Vec<u8>,
    roles: Vec<String>,
    until: Instant,
}

pub struct UserAuth {
    db: Db,
    cache: Mutex<HashMap<String, Cached>>,
}

impl UserAuth {
    pub fn new(db: Db) -> UserAuth {
        UserAuth { db, cache: Mutex::new(HashMap::new()) }
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Drops what this node remembers of the user's password (after a change), so the old one stops working here
    /// at once.
    pub fn forget(&self, username: &str) {
        if let Ok(mut cache) = self.cache.lock() {
            cache.remove(username);
        }
    }

    /// The user's roles if the password is right; `None` for an unknown user or a wrong password.
    pub async fn authenticate(&self, username: &str, password: &str) -> Result<Option<Vec<String>>, StoreError> {
        let sha = digest::digest(&digest::SHA256, password.as_bytes()).as_ref().to_vec();
        if let Ok(cache) = self.cache.lock()
            && let Some(c) = cache.get(username).filter(|c| c.until > Instant::now())
            && aws_lc_rs::constant_time::verify_slices_are_equal(&c.password_sha, &sha).is_ok()
        {
            return Ok(Some(c.roles.clone()));
        }
        let Some(user) = self.db.find_user(username).await? else { return Ok(None) };
        let (pw, hash) = (password.to_string(), user.password_hash.clone());
        let ok = tokio::task::spawn_blocking(move || apim_domain::password::verify(&pw, &hash).unwrap_or(false)).await.unwrap_or(false);
        if !ok {
            return Ok(None);
        }
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() > 10_000 {
                cache.clear();
            }
            cache.insert(username.to_string(), Cached { password_sha: sha, roles: user.roles.clone(), until: Instant::now() + TTL });
        }
        Ok(Some(user.roles))
    }
}
