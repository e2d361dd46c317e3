//! The API token of `herald serve`: `HERALD_API_TOKEN` when set, else the one stored in the
//! data directory, else a new random one written there (mode 0600).

use std::io::Write;
use std::path::Path;

/// The token's file name inside the data directory.
pub const TOKEN_FILE: &str = "api-token";

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("could not read or write the API token file {path}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("the system random number generator failed: {0}")]
    Random(String),
    #[error("the secret is empty; set it to a non-empty value or delete {0}")]
    Empty(String),
}

/// Where the token came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenSource {
    Environment,
    Stored,
    Generated,
}

/// The unsubscribe-link signing secret's file name inside the data directory.
pub const UNSUBSCRIBE_SECRET_FILE: &str = "unsubscribe-secret";

/// Returns the API token and where it came from.
pub fn load_or_create(
    data_dir: &Path,
    from_env: Option<String>,
) -> Result<(String, TokenSource), TokenError> {
    load_or_create_secret(&data_dir.join(TOKEN_FILE), "HERALD_API_TOKEN", from_env)
}

/// Returns a secret: `from_env` (named `env_name` in messages) when set, else the one in
/// `path`, else a new random one written there (mode 0600).
pub fn load_or_create_secret(
    path: &Path,
    env_name: &str,
    from_env: Option<String>,
) -> Result<(String, TokenSource), TokenError> {
    if let Some(t) = from_env {
        let t = t.trim().to_string();
        if t.is_empty() {
            return Err(TokenError::Empty(env_name.into()));
        }
        return Ok((t, TokenSource::Environment));
    }
    let path = path.to_path_buf();
    let io = |source| TokenError::Io {
        path: path.display().to_string(),
        source,
    };
    match std::fs::read_to_string(&path) {
        Ok(t) if !t.trim().is_empty() => return Ok((t.trim().to_string(), TokenSource::Stored)),
        Ok(_) => return Err(TokenError::Empty(path.display().to_string())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(e)),
    }
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| TokenError::Random(e.to_string()))?;
    let token = hex::encode(bytes);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&path).map_err(io)?;
    file.write_all(token.as_bytes()).map_err(io)?;
    Ok((token, TokenSource::Generated))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_generated_once_then_read_back() {
        let dir = std::env::temp_dir().join(format!("herald-token-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let (t1, s1) = load_or_create(&dir, None).unwrap();
        let (t2, s2) = load_or_create(&dir, None).unwrap();
        assert_eq!((s1, s2), (TokenSource::Generated, TokenSource::Stored));
        assert_eq!(t1, t2);
        assert_eq!(t1.len(), 64);
        let (t3, s3) = load_or_create(&dir, Some("override".into())).unwrap();
        assert_eq!((t3.as_str(), s3), ("override", TokenSource::Environment));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
