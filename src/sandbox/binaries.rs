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

    /// Path of `pg_dump` (installed beside the server binaries).
    pub fn pg_dump(&self) -> PathBuf {
        self.bin_dir.join("pg_dump")
    }

    /// Path of `pg_restore` (installed beside the server binaries).
    pub fn pg_restore(&self) -> PathBuf {
        self.bin_dir.join("pg_restore")
    }

    /// The major version of these binaries, from `postgres --version` (`15`; 9.x as `96` for
    /// 9.6, as [`crate::analysis::model::version_from_server_num`] writes it), or `None` when it
    /// does not run or says something else.
    pub fn major(&self) -> Option<u32> {
        let output = std::process::Command::new(self.postgres())
            .arg("--version")
            .stdin(std::process::Stdio::null())
            .output()
            .ok()?;
        parse_major(&String::from_utf8_lossy(&output.stdout))
    }

    /// Finds the server binaries: `LOCKSTEP_PG_BIN` alone when set, else `PATH`, then the usual install
    /// prefixes (Debian/Ubuntu `/usr/lib/postgresql/<major>/bin`, RHEL `/usr/pgsql-<major>/bin`,
    /// Homebrew, `/usr/local/pgsql/bin`), newest major first.
    pub fn locate() -> Result<PgBinaries, SandboxError> {
        let (found, searched) = candidates();
        found
            .into_iter()
            .next()
            .ok_or(SandboxError::BinariesNotFound { searched })
    }

    /// The binaries of major version `major` when the machine has them (among the places
    /// [`PgBinaries::locate`] searches), else the ones [`PgBinaries::locate`] finds; the flag says
    /// whether the major matched. `LOCKSTEP_PG_BIN`, when set, is used whatever its version.
    pub fn locate_major(major: u32) -> Result<(PgBinaries, bool), SandboxError> {
        let (found, searched) = candidates();
        if let Some(exact) = found.iter().find(|b| b.major() == Some(major)) {
            return Ok((exact.clone(), true));
        }
        found
            .into_iter()
            .next()
            .map(|first| (first, false))
            .ok_or(SandboxError::BinariesNotFound { searched })
    }
}

/// A client program (`pg_dump`) that can work with a server of major version `server_major`:
/// of that major when the machine has it, else the newest newer one, searched where the server
/// binaries are (directories holding only the client programs count); its path and major.
pub fn locate_client(program: &str, server_major: u32) -> Result<(PathBuf, u32), String> {
    use crate::analysis::model::{version_key, version_label};
    let has = |dir: &Path| is_executable(&dir.join(program));
    let (found, searched) = candidates_with(&has, program);
    let versions: Vec<(PathBuf, u32)> = found
        .into_iter()
        .filter_map(|b| {
            let path = b.bin_dir.join(program);
            let output = std::process::Command::new(&path)
                .arg("--version")
                .stdin(std::process::Stdio::null())
                .output()
                .ok()?;
            Some((path, parse_major(&String::from_utf8_lossy(&output.stdout))?))
        })
        .collect();
    if let Some(exact) = versions.iter().find(|(_, major)| *major == server_major) {
        return Ok(exact.clone());
    }
    if let Some(newer) = versions
        .iter()
        .filter(|(_, major)| version_key(*major) > version_key(server_major))
        .max_by_key(|(_, major)| version_key(*major))
    {
        return Ok(newer.clone());
    }
    let server = version_label(server_major);
    Err(if versions.is_empty() {
        format!(
            "no {program} found (searched {}); install the PostgreSQL {server} client \
             (Debian/Ubuntu: `apt-get install postgresql-client-{server}`) or point \
             LOCKSTEP_PG_BIN at its directory",
            searched
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )
    } else {
        format!(
            "the {program} found ({}) is older than the server ({server}), and {program} \
             refuses a newer server; install the PostgreSQL {server} client (Debian/Ubuntu: \
             `apt-get install postgresql-client-{server}`) or point LOCKSTEP_PG_BIN at it",
            versions
                .iter()
                .map(|(path, major)| format!("{} is {}", path.display(), version_label(*major)))
                .collect::<Vec<_>>()
                .join(", ")
        )
    })
}

/// Every installation of the server binaries, in the order of preference of [`PgBinaries::locate`],
/// and the places searched.
fn candidates() -> (Vec<PgBinaries>, Vec<PathBuf>) {
    candidates_with(&has_server, "initdb")
}

/// Every directory `has` accepts, in the order of preference of [`PgBinaries::locate`], and the
/// places searched; `anchor` is the program whose symlink on `PATH` leads to the real directory.
fn candidates_with(has: &dyn Fn(&Path) -> bool, anchor: &str) -> (Vec<PgBinaries>, Vec<PathBuf>) {
    let has_server = has;
    let mut searched = Vec::new();
    let mut found = Vec::new();
    if let Some(dir) = std::env::var_os("LOCKSTEP_PG_BIN") {
        // An explicit choice: use it or say it is wrong, never fall back silently.
        let dir = PathBuf::from(dir);
        if has_server(&dir) {
            found.push(PgBinaries { bin_dir: dir });
        } else {
            searched.push(dir);
        }
        return (found, searched);
    }
    if let Some(path) = std::env::var_os("PATH") {
        if let Some(dir) = std::env::split_paths(&path).find(|dir| has_server(dir)) {
            // A symlink on PATH (e.g. /usr/local/bin/initdb) points into the real install.
            let real = std::fs::canonicalize(dir.join(anchor))
                .ok()
                .and_then(|p| p.parent().map(Path::to_path_buf))
                .filter(|d| has_server(d))
                .unwrap_or(dir);
            found.push(PgBinaries { bin_dir: real });
        } else {
            searched.push(PathBuf::from("$PATH"));
        }
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
        let mut dirs: Vec<(u32, PathBuf)> = entries
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
        if dirs.is_empty() {
            searched.push(PathBuf::from(pattern_root));
        }
        // Newest major first.
        dirs.sort();
        found.extend(
            dirs.into_iter()
                .rev()
                .map(|(_, bin_dir)| PgBinaries { bin_dir }),
        );
    }
    let local = PathBuf::from("/usr/local/pgsql/bin");
    if has_server(&local) {
        found.push(PgBinaries { bin_dir: local });
    } else {
        searched.push(local);
    }
    (found, searched)
}

/// The major version in `postgres --version` output: `postgres (PostgreSQL) 15.10 (Debian …)`.
fn parse_major(text: &str) -> Option<u32> {
    let version = text
        .split_whitespace()
        .find(|w| w.starts_with(|c: char| c.is_ascii_digit()))?;
    let mut parts = version.split(|c: char| !c.is_ascii_digit());
    let first: u32 = parts.next()?.parse().ok()?;
    if first >= 10 {
        Some(first)
    } else {
        Some(first * 10 + parts.next().and_then(|p| p.parse().ok()).unwrap_or(0))
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
    fn reads_the_major_version_of_the_binaries() {
        assert_eq!(
            parse_major("postgres (PostgreSQL) 15.10 (Debian 15.10-0+deb12u1)\n"),
            Some(15)
        );
        assert_eq!(parse_major("postgres (PostgreSQL) 9.6.24\n"), Some(96));
        assert_eq!(parse_major("postgres (PostgreSQL) 18beta1\n"), Some(18));
        assert_eq!(parse_major("nothing here"), None);
    }

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
