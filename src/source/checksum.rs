//! sqlx's migration checksum: SHA-384 of the raw file text, optionally without `ignored-chars`.

use sha2::{Digest, Sha384};

/// SHA-384 over `sql` with every character in `ignored` left out (sqlx 0.9 `ignored-chars`).
pub fn checksum(sql: &str, ignored: &[char]) -> Vec<u8> {
    let mut digest = Sha384::new();
    if ignored.is_empty() {
        digest.update(sql.as_bytes());
    } else {
        for fragment in sql.split(|c| ignored.contains(&c)) {
            digest.update(fragment.as_bytes());
        }
    }
    digest.finalize().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_sha384_of_the_raw_text() {
        // `printf 'SELECT 1;\n' | sha384sum`
        assert_eq!(
            hex::encode(checksum("SELECT 1;\n", &[])),
            "24454095d8d7876ca8e842f34296ca645c83e0f7b50f048c99db4b2ff4da659267afc4ef3e994f3d74e18c741165d931"
        );
        assert_eq!(checksum("a", &[]).len(), 48);
    }

    #[test]
    fn ignored_chars_are_left_out() {
        assert_eq!(
            checksum("SELECT 1;\r\n", &['\r']),
            checksum("SELECT 1;\n", &[])
        );
        assert_ne!(checksum("SELECT 1;\r\n", &[]), checksum("SELECT 1;\n", &[]));
    }
}
