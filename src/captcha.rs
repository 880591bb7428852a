//! The mini form's self-hosted captcha (`form_mode = "html_form_captcha"`):
//! no third-party service, the appliance runs offline.
//!
//! A challenge is a small sum ("What is 23 + 4?") and a token
//! `issued_ms.nonce.signature`, where the signature is HMAC-SHA256 over
//! (form, issued, nonce, answer) with a secret drawn at start. A submission
//! passes when the answer reproduces the signature, the token is younger
//! than an hour and older than the minimum time-to-submit, its nonce was
//! never used (single use), and the honeypot field is empty. A restart draws
//! a new secret, so no token outlives the process that issued it (and the
//! in-memory record of used nonces is always complete).
//!
//! Floor: above `clock` and `http` (posted fields); `app` holds it, `pages`
//! renders its challenge.

use std::sync::Mutex;

use ahash::AHashMap;
use hmac::{KeyInit, Mac};

use crate::clock::SharedClock;
use crate::http::body::Fields;

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// Posted field names the form uses (removed before mapping).
pub const TOKEN_FIELD: &str = "_captcha_token";
pub const ANSWER_FIELD: &str = "_captcha_answer";
pub const HONEYPOT_FIELD: &str = "_hp_website";

const MAX_AGE_MS: u64 = 3_600_000;
const MAX_USED: usize = 200_000;

pub struct Captcha {
    secret: [u8; 32],
    clock: SharedClock,
    min_age_ms: u64,
    used: Mutex<AHashMap<u64, u64>>,
}

/// A challenge to render.
pub struct Challenge {
    pub question: String,
    pub token: String,
}

fn random_u64() -> u64 {
    // getrandom only fails where there is no OS randomness at all.
    getrandom::u64().unwrap_or_else(|_| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x5eed)
    })
}

impl Captcha {
    pub fn new(clock: SharedClock, min_age_ms: u64) -> Captcha {
        let mut secret = [0u8; 32];
        for chunk in secret.chunks_mut(8) {
            chunk.copy_from_slice(&random_u64().to_le_bytes());
        }
        Captcha {
            secret,
            clock,
            min_age_ms,
            used: Mutex::new(AHashMap::new()),
        }
    }

    fn sign(&self, form: &str, issued: u64, nonce: u64, answer: u64) -> String {
        // unwrap: HMAC takes keys of any length.
        let mut mac = HmacSha256::new_from_slice(&self.secret).unwrap();
        mac.update(form.to_ascii_lowercase().as_bytes());
        mac.update(&[0]);
        mac.update(&issued.to_be_bytes());
        mac.update(&nonce.to_be_bytes());
        mac.update(&answer.to_be_bytes());
        mac.finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    pub fn challenge(&self, form: &str) -> Challenge {
        let r = random_u64();
        let (a, b) = (10 + r % 40, 1 + (r >> 8) % 9);
        let nonce = random_u64();
        let issued = self.clock.now_ms();
        Challenge {
            question: format!("What is {a} + {b}?"),
            token: format!(
                "{issued}.{nonce:016x}.{}",
                self.sign(form, issued, nonce, a + b)
            ),
        }
    }

    /// Checks a submission; Err says why (for the logs), the caller answers 010.
    pub fn verify(&self, form: &str, fields: &Fields) -> Result<(), &'static str> {
        if fields.get(HONEYPOT_FIELD).is_some_and(|v| !v.is_empty()) {
            return Err("honeypot filled");
        }
        let token = fields.get(TOKEN_FIELD).ok_or("no captcha token")?;
        let answer: u64 = fields
            .get(ANSWER_FIELD)
            .and_then(|a| a.trim().parse().ok())
            .ok_or("no numeric answer")?;
        let mut parts = token.split('.');
        let (Some(issued), Some(nonce), Some(sig), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err("malformed token");
        };
        let issued: u64 = issued.parse().map_err(|_| "malformed token")?;
        let nonce = u64::from_str_radix(nonce, 16).map_err(|_| "malformed token")?;
        let expected = self.sign(form, issued, nonce, answer);
        if !bool::from(subtle::ConstantTimeEq::ct_eq(
            expected.as_bytes(),
            sig.as_bytes(),
        )) {
            return Err("wrong answer or forged token");
        }
        let now = self.clock.now_ms();
        if now < issued + self.min_age_ms {
            return Err("submitted faster than a person types");
        }
        if now > issued + MAX_AGE_MS {
            return Err("challenge expired");
        }
        let mut used = self.used.lock().unwrap_or_else(|p| p.into_inner());
        if used.len() >= MAX_USED {
            used.retain(|_, expires| *expires > now);
            if used.len() >= MAX_USED {
                return Err("too many live challenges");
            }
        }
        if used.insert(nonce, issued + MAX_AGE_MS).is_some() {
            return Err("challenge already used");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use std::sync::Arc;

    fn solve(c: &Challenge) -> u64 {
        let q = c
            .question
            .trim_start_matches("What is ")
            .trim_end_matches('?');
        let (a, b) = q.split_once(" + ").unwrap();
        a.parse::<u64>().unwrap() + b.parse::<u64>().unwrap()
    }

    fn post(token: &str, answer: u64, hp: &str) -> Fields {
        let q = format!("{TOKEN_FIELD}={token}&{ANSWER_FIELD}={answer}&{HONEYPOT_FIELD}={hp}");
        Fields::decode(&q, None, b"").unwrap()
    }

    #[test]
    fn signed_single_use_timed() {
        let clock = Arc::new(ManualClock::new(1_000_000));
        let cap = Captcha::new(clock.clone(), 3000);
        let c = cap.challenge("form");
        let ans = solve(&c);
        assert_eq!(
            cap.verify("form", &post(&c.token, ans, "")),
            Err("submitted faster than a person types")
        );
        clock.advance_ms(3000);
        assert_eq!(
            cap.verify("form", &post(&c.token, ans + 1, "")),
            Err("wrong answer or forged token")
        );
        assert_eq!(
            cap.verify("other", &post(&c.token, ans, "")),
            Err("wrong answer or forged token")
        );
        assert_eq!(
            cap.verify("form", &post(&c.token, ans, "x")),
            Err("honeypot filled")
        );
        assert_eq!(cap.verify("form", &post(&c.token, ans, "")), Ok(()));
        assert_eq!(
            cap.verify("form", &post(&c.token, ans, "")),
            Err("challenge already used")
        );
        let late = cap.challenge("form");
        clock.advance_ms(MAX_AGE_MS + 1);
        assert_eq!(
            cap.verify("form", &post(&late.token, solve(&late), "")),
            Err("challenge expired")
        );
        let other = Captcha::new(clock.clone(), 0);
        let c = cap.challenge("form");
        assert!(
            other
                .verify("form", &post(&c.token, solve(&c), ""))
                .is_err(),
            "another secret"
        );
    }
}
