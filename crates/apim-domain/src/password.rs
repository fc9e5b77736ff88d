//! Password hashing for the user store: Argon2id with PHC strings.

use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Argon2, PasswordHash};

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("cannot hash password: {0}")]
    Hash(String),
    #[error("stored password hash is malformed: {0}")]
    Malformed(String),
}

/// Hashes a password with Argon2id and a random salt.
pub fn hash(password: &str) -> Result<String, PasswordError> {
    Argon2::default().hash_password(password.as_bytes()).map(|h| h.to_string()).map_err(|e| PasswordError::Hash(e.to_string()))
}

/// Checks a password against a stored PHC string.
pub fn verify(password: &str, phc: &str) -> Result<bool, PasswordError> {
    let parsed = PasswordHash::new(phc).map_err(|e| PasswordError::Malformed(e.to_string()))?;
    Ok(Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
}

#[cfg(test)]
mod tests {
    #[test]
    fn hash_then_verify() {
        let phc = super::hash("s3cret").expect("hash");
        assert!(phc.starts_with("$argon2id$"));
        assert!(super::verify("s3cret", &phc).expect("verify"));
        assert!(!super::verify("wrong", &phc).expect("verify"));
        assert!(super::verify("x", "not-a-hash").is_err());
    }
}
