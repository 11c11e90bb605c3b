//! Challenges: 32 random bytes from the operating system's generator (through aws-lc-rs).

use crate::error::WebauthnError;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};

/// Length of the challenges Tessera issues (the specification asks for at least 16 random bytes).
pub const CHALLENGE_LEN: usize = 32;

/// Generates a fresh challenge.
///
/// # Errors
/// [`WebauthnError::RandomUnavailable`] if the system generator fails.
pub fn generate_challenge() -> Result<[u8; CHALLENGE_LEN], WebauthnError> {
    let mut challenge = [0u8; CHALLENGE_LEN];
    SystemRandom::new()
        .fill(&mut challenge)
        .map_err(|_| WebauthnError::RandomUnavailable)?;
    Ok(challenge)
}
