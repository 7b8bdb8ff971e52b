//! The platform's secrets (the JWT signing secret, the master key that wraps each
//! organisation's data key, and the internal secret that signs the caller metadata between
//! the gateway and the services), generated on first start and kept under the data directory
//! with mode 0600, unless the environment supplies them.

use std::io::{Read, Write};
use std::path::Path;

/// Bytes of randomness in each generated secret (256 bits).
const SECRET_BYTES: usize = 32;

/// 32 random bytes from the OS, hex-encoded.
fn random_hex() -> std::io::Result<String> {
    let mut bytes = [0_u8; SECRET_BYTES];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes.iter().map(|byte| format!("{byte:02x}")).collect())
}

/// Reads `dir/name`, or creates it (0600, written before it is visible under its name)
/// holding a new random secret.
pub fn load_or_create(dir: &Path, name: &str) -> std::io::Result<String> {
    let path = dir.join(name);
    match std::fs::read_to_string(&path) {
        Ok(text) if !text.trim().is_empty() => return Ok(text.trim().to_string()),
        Ok(_) => {}
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => return Err(error),
    }
    std::fs::create_dir_all(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    let secret = random_hex()?;
    let temporary = dir.join(format!(".{name}.tmp"));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&temporary)?;
    file.write_all(secret.as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&temporary, &path)?;
    Ok(secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_is_created_once_then_reused_with_mode_0600() {
        let dir = std::env::temp_dir().join(format!("ultra-secrets-{}", std::process::id()));
        let first = load_or_create(&dir, "jwt_secret").expect("created");
        let second = load_or_create(&dir, "jwt_secret").expect("read back");
        assert_eq!(first, second);
        assert_eq!(first.len(), 64);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.join("jwt_secret"))
                .expect("exists")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::remove_dir_all(&dir).expect("cleaned");
    }
}
