//! Finding the local PostgreSQL server binaries (`initdb`, `postgres`).

use std::path::{Path, PathBuf};

use super::SandboxError;

/// Where the PostgreSQL server binaries of one installation live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgBinaries {
    /// The directory holding `initdb` and `postgres`.
    pub bin_dir: PathBuf,
}

impl PgBinaries {
    /// Path of `initdb`.
    pub fn initdb(&self) -> PathBuf {
        self.bin_dir.join("initdb")
    }

    /// Path of `postgres`.
    pub fn postgres(&self) -> PathBuf {
        self.bin_dir.join("postgres")
    }

    /// Finds the server binaries: `LOCKSTEP_PG_BIN` alone when set, else `PATH`, then the usual install
    /// prefixes (Debian/Ubuntu `/usr/lib/postgresql/<major>/bin`, RHEL `/usr/pgsql-<major>/bin`,
    /// Homebrew, `/usr/local/pgsql/bin`), newest major first.
    pub fn locate() -> Result<PgBinaries, SandboxError> {
        let mut searched = Vec::new();
        if let Some(dir) = std::env::var_os("LOCKSTEP_PG_BIN") {
            // An explicit choice: use it or say it is wrong, never fall back silently.
            let dir = PathBuf::from(dir);
            if has_server(&dir) {
                return Ok(PgBinaries { bin_dir: dir });
            }
            return Err(SandboxError::BinariesNotFound {
                searched: vec![dir],
            });
        }
        if let Some(path) = std::env::var_os("PATH") {
            for dir in std::env::split_paths(&path) {
                if has_server(&dir) {
                    // A symlink on PATH (e.g. /usr/local/bin/initdb) points into the real install.
                    let real = std::fs::canonicalize(dir.join("initdb"))
                        .ok()
                        .and_then(|p| p.parent().map(Path::to_path_buf))
                        .filter(|d| has_server(d))
                        .unwrap_or(dir);
                    return Ok(PgBinaries { bin_dir: real });
                }
            }
            searched.push(PathBuf::from("$PATH"));
        }
        for pattern_root in [
            "/usr/lib/postgresql",
            "/usr/local/opt",
            "/opt/homebrew/opt",
            "/usr",
        ] {
            let Ok(entries) = std::fs::read_dir(pattern_root) else {
                continue;
            };
            let mut candidates: Vec<(u32, PathBuf)> = entries
                .filter_map(Result::ok)
                .filter_map(|entry| {
                    let name = entry.file_name().to_string_lossy().into_owned();
                    let major = if pattern_root == "/usr/lib/postgresql" {
                        name.parse::<u32>().ok()?
                    } else if let Some(rest) = name
                        .strip_prefix("pgsql-")
                        .or_else(|| name.strip_prefix("postgresql@"))
                    {
                        rest.parse::<u32>().ok()?
                    } else if name == "postgresql" && pattern_root != "/usr" {
                        0
                    } else {
                        return None;
                    };
                    Some((major, entry.path().join("bin")))
                })
                .filter(|(_, dir)| has_server(dir))
                .collect();
            candidates.sort();
            if let Some((_, dir)) = candidates.pop() {
                return Ok(PgBinaries { bin_dir: dir });
            }
            searched.push(PathBuf::from(pattern_root));
        }
        let local = PathBuf::from("/usr/local/pgsql/bin");
        if has_server(&local) {
            return Ok(PgBinaries { bin_dir: local });
        }
        searched.push(local);
        Err(SandboxError::BinariesNotFound { searched })
    }
}

fn has_server(dir: &Path) -> bool {
    is_executable(&dir.join("initdb")) && is_executable(&dir.join("postgres"))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_without_binaries_is_not_a_server() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!has_server(dir.path()));
        std::fs::write(dir.path().join("initdb"), "").unwrap();
        assert!(
            !has_server(dir.path()),
            "a non-executable file is not a binary"
        );
    }
}
