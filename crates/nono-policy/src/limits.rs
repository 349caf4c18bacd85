//! The values of `--memory`, `--max-processes`, `--cpus` and a profile's `limits`: [`Limits`],
//! their parsers and how they are shown. Enforcing them (one cgroup v2 per run) is
//! nono-supervisor's `limits.rs`.

use std::fmt;

/// The limits asked for (command line and profile merged; the command line wins).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Limits {
    /// `--memory`: bytes of memory (RAM + swap) for the whole tree.
    pub memory: Option<u64>,
    /// `--max-processes`: tasks (processes and threads) of the whole tree at once.
    pub max_processes: Option<u64>,
    /// `--cpus`: CPU time as a fraction of one CPU per period (0.5 = half a CPU, 2 = two).
    pub cpus: Option<f64>,
}

impl Limits {
    /// Whether no limit is asked for.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.memory.is_none() && self.max_processes.is_none() && self.cpus.is_none()
    }

    /// Each limit asked for, with its flag.
    pub fn requested(&self) -> Vec<Limit> {
        let mut out = Vec::new();
        if self.memory.is_some() {
            out.push(Limit::Memory);
        }
        if self.max_processes.is_some() {
            out.push(Limit::Processes);
        }
        if self.cpus.is_some() {
            out.push(Limit::Cpus);
        }
        out
    }
}

impl fmt::Display for Limits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if let Some(m) = self.memory {
            parts.push(format!("memory {}", human_bytes(m)));
        }
        if let Some(p) = self.max_processes {
            parts.push(format!("{p} processes/threads"));
        }
        if let Some(c) = self.cpus {
            parts.push(format!("{c} CPUs"));
        }
        if parts.is_empty() {
            f.write_str("none")
        } else {
            f.write_str(&parts.join(", "))
        }
    }
}

/// One kind of limit. Exhaustive on purpose: nono-supervisor's enforcement matches on it, so
/// a new limit cannot be added without saying how it is enforced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// `--memory` (`memory` controller).
    Memory,
    /// `--max-processes` (`pids` controller).
    Processes,
    /// `--cpus` (`cpu` controller).
    Cpus,
}

impl Limit {
    /// Every kind.
    pub const ALL: [Limit; 3] = [Limit::Memory, Limit::Processes, Limit::Cpus];

    /// The command-line flag.
    #[must_use]
    pub fn flag(self) -> &'static str {
        match self {
            Limit::Memory => "--memory",
            Limit::Processes => "--max-processes",
            Limit::Cpus => "--cpus",
        }
    }

    /// The cgroup v2 controller that enforces it.
    #[must_use]
    pub fn controller(self) -> &'static str {
        match self {
            Limit::Memory => "memory",
            Limit::Processes => "pids",
            Limit::Cpus => "cpu",
        }
    }
}

/// A malformed limit value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LimitParseError {
    /// Not a size.
    #[error("`{0}` is not a size (give bytes or a number with K, M, G or T, e.g. 512M, 1.5GiB)")]
    Size(String),
    /// Not a positive CPU count.
    #[error("`{0}` is not a CPU count (give a positive number, e.g. 0.5 or 2)")]
    Cpus(String),
    /// Zero or absurd.
    #[error("`{0}` is out of range ({1})")]
    Range(String, &'static str),
}

/// Parse a memory size: bytes (`1048576`) or a number with a binary unit `K`, `M`, `G`, `T`
/// (`512M`, `1G`, `1.5GiB`, `64MB`: all powers of 1024, as systemd and docker read them).
pub fn parse_size(text: &str) -> Result<u64, LimitParseError> {
    let err = || LimitParseError::Size(text.to_owned());
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let unit = unit.trim().to_ascii_lowercase();
    let shift = match unit.trim_end_matches("ib").trim_end_matches('b') {
        "" => 0,
        "k" => 10,
        "m" => 20,
        "g" => 30,
        "t" => 40,
        _ => return Err(err()),
    };
    if num.is_empty() || num.matches('.').count() > 1 {
        return Err(err());
    }
    let bytes = if num.contains('.') {
        let v: f64 = num.parse().map_err(|_| err())?;
        let b = v * f64::from(1u32 << (shift / 2)) * f64::from(1u32 << (shift - shift / 2));
        if !b.is_finite() || b >= 1.8e19 {
            return Err(LimitParseError::Range(text.to_owned(), "too large"));
        }
        // Truncation toward zero of a finite, non-negative value below u64::MAX.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let b = b as u64;
        b
    } else {
        let v: u64 = num.parse().map_err(|_| err())?;
        v.checked_mul(1u64 << shift)
            .ok_or_else(|| LimitParseError::Range(text.to_owned(), "too large"))?
    };
    if bytes < 1 << 20 {
        return Err(LimitParseError::Range(
            text.to_owned(),
            "at least 1M: less cannot even start a shell",
        ));
    }
    Ok(bytes)
}

/// Parse `--cpus`: a positive number of CPUs (`0.5`, `2`), at least 0.01.
pub fn parse_cpus(text: &str) -> Result<f64, LimitParseError> {
    let v: f64 = text
        .trim()
        .parse()
        .map_err(|_| LimitParseError::Cpus(text.to_owned()))?;
    if !v.is_finite() || v <= 0.0 {
        return Err(LimitParseError::Cpus(text.to_owned()));
    }
    if !(0.01..=4096.0).contains(&v) {
        return Err(LimitParseError::Range(
            text.to_owned(),
            "between 0.01 and 4096",
        ));
    }
    Ok(v)
}

/// Parse `--max-processes`: a task count of at least 1.
pub fn parse_processes(text: &str) -> Result<u64, LimitParseError> {
    let v: u64 = text
        .trim()
        .parse()
        .map_err(|_| LimitParseError::Range(text.to_owned(), "a whole number of at least 1"))?;
    if v == 0 {
        return Err(LimitParseError::Range(text.to_owned(), "at least 1"));
    }
    Ok(v)
}

/// `512 MiB`, `1.5 GiB`, `300 bytes`.
#[must_use]
pub fn human_bytes(b: u64) -> String {
    const UNITS: [(&str, u32); 4] = [("TiB", 40), ("GiB", 30), ("MiB", 20), ("KiB", 10)];
    for (name, shift) in UNITS {
        let unit = 1u64 << shift;
        if b >= unit {
            if b % unit == 0 {
                return format!("{} {name}", b / unit);
            }
            #[allow(clippy::cast_precision_loss)]
            let v = b as f64 / unit as f64;
            return format!("{v:.1} {name}");
        }
    }
    format!("{b} bytes")
}
