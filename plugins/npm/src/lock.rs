//! What every lockfile parser returns: the packages a project declares, with what the lockfile
//! knows about why each is there.

/// Why a package is in a project, when the lockfile says. `None` in [`Locked::scope`] means a
/// production dependency, or that the lockfile does not say (yarn.lock never does).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scope {
    Optional,
    Peer,
    Dev,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Dev => "dev",
            Scope::Optional => "optional",
            Scope::Peer => "peer",
        }
    }

    /// One package reached two ways is as needed as the more needed way: a package that is a
    /// dev dependency here and a production one there is installed in production.
    pub fn merge(a: Option<Scope>, b: Option<Scope>) -> Option<Scope> {
        match (a, b) {
            (Some(a), Some(b)) => Some(a.min(b)),
            _ => None,
        }
    }
}

/// One package of a lockfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Locked {
    pub name: String,
    pub version: String,
    /// Where npm installs it, relative to the project directory
    /// (`node_modules/a/node_modules/@s/b`); npm lockfiles only.
    pub location: Option<String>,
    pub scope: Option<Scope>,
    pub licenses: Vec<String>,
}

/// Everything read from one lockfile: its packages and its problems, in file order.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Parsed {
    pub packages: Vec<Locked>,
    pub errors: Vec<String>,
}

/// At most this many problems are listed per file; the rest are counted in one last message.
pub const MAX_ERRORS_PER_FILE: usize = 20;

impl Parsed {
    pub fn error(&mut self, message: String) {
        if self.errors.len() < MAX_ERRORS_PER_FILE {
            self.errors.push(message);
        } else if self.errors.len() == MAX_ERRORS_PER_FILE {
            self.errors.push("more problems not listed".to_string());
        }
    }

    pub fn failed(message: String) -> Parsed {
        Parsed { packages: Vec::new(), errors: vec![message] }
    }
}

/// Lockfiles legitimately reach tens of MB; past this one is refused rather than risk the
/// plugin's memory cap and lose every other file's packages with it.
pub const MAX_LOCKFILE_BYTES: usize = 64 * 1024 * 1024;

pub fn check_size(content: &[u8]) -> Result<(), String> {
    if content.len() > MAX_LOCKFILE_BYTES {
        return Err(format!(
            "lockfile is {} bytes, over the {} MiB limit; not parsed",
            content.len(),
            MAX_LOCKFILE_BYTES >> 20
        ));
    }
    Ok(())
}

/// Splits `name@range` (`@scope/name@range` for scoped names) at the `@` after the name.
pub fn split_name_at(spec: &str) -> Option<(&str, &str)> {
    let at = spec.get(1..)?.find('@')? + 1;
    Some((spec.get(..at)?, spec.get(at + 1..)?))
}
