//! `support()`: what the running kernel can enforce (Landlock ABI and features, seccomp notify).
//!
//! Everything here is read-only probing: Landlock features are detected by asking the
//! `landlock` crate for a ruleset that *requires* each feature (a hard requirement fails on a
//! kernel without it), seccomp from `/proc/sys/kernel/seccomp/actions_avail` (the sysctl view of
//! `SECCOMP_GET_ACTION_AVAIL`) and the `Seccomp:` line of `/proc/self/status`, i386 emulation
//! from the kernel config or `/proc/kallsyms`.

use serde::Serialize;

use crate::caps::Compat;

/// A protection a sandbox may ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Protection {
    /// Filesystem read/write/execute confinement.
    Filesystem,
    /// Cross-directory rename/link confinement.
    Refer,
    /// `truncate()` confinement.
    Truncate,
    /// Device ioctl confinement.
    IoctlDev,
    /// TCP `connect()` confinement.
    TcpConnect,
    /// TCP `bind()` confinement.
    TcpBind,
    /// Signals only within the sandbox.
    SignalScope,
    /// Abstract Unix sockets only within the sandbox.
    AbstractUnixSocketScope,
    /// `PR_SET_NO_NEW_PRIVS`: exec cannot gain privileges.
    NoNewPrivs,
    /// seccomp deny-list of escape syscalls.
    SeccompDenyList,
    /// seccomp filter refusing non-`AF_UNIX` sockets (UDP, ICMP, raw) when the network is
    /// blocked or limited to TCP ports.
    SocketFamilyFilter,
    /// seccomp user-notification trap of the open family (runtime elevation).
    OpenNotify,
    /// Confinement of every thread of the process (an in-process `Sandbox::apply` confines
    /// only the calling thread).
    AllThreads,
    /// No Linux capabilities in the sandbox: effective, permitted, inheritable and ambient
    /// sets emptied (and, as root, the bounding set, with `SECBIT_NOROOT` locked).
    CapabilitiesDropped,
    /// System V IPC confined: a private IPC namespace, or the SysV calls refused.
    SysvIpc,
    /// No Unix datagram sockets: `socket()`/`socketpair()` of `AF_UNIX` `SOCK_DGRAM` (or
    /// `SOCK_RAW`) refused with `EACCES`, so nothing can `sendmsg` a datagram to a pathname
    /// datagram socket outside the grants (`/dev/log`), which no filter could check.
    UnixDatagram,
}

impl Protection {
    /// Short human-readable name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Protection::Filesystem => "filesystem",
            Protection::Refer => "cross-directory rename/link",
            Protection::Truncate => "truncate",
            Protection::IoctlDev => "device ioctl",
            Protection::TcpConnect => "tcp connect",
            Protection::TcpBind => "tcp bind",
            Protection::SignalScope => "signal scope",
            Protection::AbstractUnixSocketScope => "abstract unix socket scope",
            Protection::NoNewPrivs => "no_new_privs",
            Protection::SeccompDenyList => "seccomp deny-list",
            Protection::SocketFamilyFilter => "socket family filter",
            Protection::OpenNotify => "open notification",
            Protection::AllThreads => "all threads",
            Protection::CapabilitiesDropped => "capabilities dropped",
            Protection::SysvIpc => "system v ipc",
            Protection::UnixDatagram => "no unix datagram sockets",
        }
    }
}

/// One line of an [`EnforcementStatus`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatusItem {
    /// The protection.
    pub protection: Protection,
    /// The mechanism, or why it is missing.
    pub detail: String,
}

/// What a prepared or applied sandbox actually enforces. Never a silent downgrade: every
/// protection the capability set asked for is either in `enforced` or in `not_enforced`
/// (which can only be non-empty with [`Compat::BestEffort`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EnforcementStatus {
    /// Strict or best-effort, as requested.
    pub compat: Compat,
    /// Landlock ABI of the running kernel (0: none).
    pub landlock_abi: u32,
    /// Protections in force.
    pub enforced: Vec<StatusItem>,
    /// Requested protections the kernel could not give (best-effort only).
    pub not_enforced: Vec<StatusItem>,
    /// Caveats: carve-out expansions, hard links to denied files, skipped grants.
    pub notes: Vec<String>,
    /// Number of Landlock path rules.
    pub fs_rules: usize,
}

impl EnforcementStatus {
    /// An empty status for `compat` on a kernel with Landlock ABI `landlock_abi`.
    #[must_use]
    pub fn new(compat: Compat, landlock_abi: u32) -> Self {
        EnforcementStatus {
            compat,
            landlock_abi,
            enforced: Vec::new(),
            not_enforced: Vec::new(),
            notes: Vec::new(),
            fs_rules: 0,
        }
    }

    /// Whether every requested protection is enforced.
    #[must_use]
    pub fn is_complete(&self) -> bool {
        self.not_enforced.is_empty()
    }

    /// Whether `p` is enforced.
    #[must_use]
    pub fn enforces(&self, p: Protection) -> bool {
        self.enforced.iter().any(|i| i.protection == p)
    }

    /// Record `p` as enforced through `detail`.
    pub fn push_enforced(&mut self, p: Protection, detail: impl Into<String>) {
        self.enforced.push(StatusItem {
            protection: p,
            detail: detail.into(),
        });
    }

    /// Record `p` as not enforced, because `reason`.
    pub fn push_gap(&mut self, p: Protection, reason: impl Into<String>) {
        self.not_enforced.push(StatusItem {
            protection: p,
            detail: reason.into(),
        });
    }
}

impl std::fmt::Display for EnforcementStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "landlock ABI {}, {} path rules, {}",
            self.landlock_abi,
            self.fs_rules,
            self.compat.as_str()
        )?;
        for i in &self.enforced {
            writeln!(
                f,
                "  enforced     {:<28} {}",
                i.protection.as_str(),
                i.detail
            )?;
        }
        for i in &self.not_enforced {
            writeln!(
                f,
                "  NOT ENFORCED {:<28} {}",
                i.protection.as_str(),
                i.detail
            )?;
        }
        for n in &self.notes {
            writeln!(f, "  note: {n}")?;
        }
        Ok(())
    }
}

/// Yes / no / cannot tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Tristate {
    /// Available.
    Yes,
    /// Not available.
    No,
    /// Could not be determined.
    Unknown,
}

/// Landlock features of the running kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct LandlockSupport {
    /// Highest Landlock ABI version the kernel offers (as far as the `landlock` crate knows
    /// them); 0 when Landlock is missing or disabled.
    pub abi: u32,
    /// Filesystem access control (ABI 1).
    pub fs: bool,
    /// `LANDLOCK_ACCESS_FS_REFER`: linking/renaming across directories (ABI 2).
    pub refer: bool,
    /// `LANDLOCK_ACCESS_FS_TRUNCATE` (ABI 3).
    pub truncate: bool,
    /// TCP bind/connect port rules (ABI 4).
    pub tcp: bool,
    /// `LANDLOCK_ACCESS_FS_IOCTL_DEV`: ioctl on device files (ABI 5).
    pub ioctl_dev: bool,
    /// Signal and abstract-unix-socket scopes (ABI 6).
    pub scopes: bool,
    /// Audit logging flags for `landlock_restrict_self` (ABI 7).
    pub audit_flags: bool,
}

/// seccomp features of the running kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SeccompSupport {
    /// seccomp BPF filters (`CONFIG_SECCOMP_FILTER`).
    pub filter: Tristate,
    /// `SECCOMP_RET_USER_NOTIF` (user notification, Linux 5.0).
    pub user_notif: Tristate,
}

/// One protection nono can ask for, the mechanism that gives it, and whether it is available.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProtectionSupport {
    /// What is protected.
    pub protection: &'static str,
    /// The kernel mechanism that enforces it.
    pub mechanism: &'static str,
    /// Whether the running kernel offers it.
    pub available: bool,
}

/// What the running system can enforce.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Support {
    /// `linux`, `macos`, ...
    pub os: &'static str,
    /// Kernel release (`uname -r`).
    pub kernel_release: String,
    /// Landlock.
    pub landlock: LandlockSupport,
    /// seccomp.
    pub seccomp: SeccompSupport,
    /// `PR_SET_NO_NEW_PRIVS` (Linux 3.5+; nono always sets it before enforcing).
    pub no_new_privs: bool,
    /// Whether the kernel runs i386 (`int 0x80`) syscalls on x86_64; the seccomp filter checks
    /// the architecture first and refuses foreign-arch syscalls either way.
    pub ia32_emulation: Tristate,
    /// Where `ia32_emulation` was read from.
    pub ia32_emulation_source: String,
    /// Each protection and what it maps to.
    pub protections: Vec<ProtectionSupport>,
}

impl std::fmt::Display for Support {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let yn = |b: bool| if b { "yes" } else { "no" };
        let tri = |t: Tristate| match t {
            Tristate::Yes => "yes",
            Tristate::No => "no",
            Tristate::Unknown => "unknown",
        };
        writeln!(f, "kernel: {} {}", self.os, self.kernel_release)?;
        let l = &self.landlock;
        writeln!(
            f,
            "landlock: ABI {} (fs {}, refer {}, truncate {}, tcp {}, ioctl_dev {}, scopes {})",
            l.abi,
            yn(l.fs),
            yn(l.refer),
            yn(l.truncate),
            yn(l.tcp),
            yn(l.ioctl_dev),
            yn(l.scopes)
        )?;
        writeln!(
            f,
            "seccomp: filter {}, user notification {}",
            tri(self.seccomp.filter),
            tri(self.seccomp.user_notif)
        )?;
        writeln!(f, "no_new_privs: {}", yn(self.no_new_privs))?;
        writeln!(
            f,
            "ia32 emulation: {} ({})",
            tri(self.ia32_emulation),
            self.ia32_emulation_source
        )?;
        for p in &self.protections {
            writeln!(
                f,
                "  {:<34} {:<44} {}",
                p.protection,
                p.mechanism,
                if p.available { "available" } else { "MISSING" }
            )?;
        }
        Ok(())
    }
}

/// Probe the running system.
#[must_use]
pub fn support() -> Support {
    let landlock = landlock_support();
    let seccomp = seccomp_support();
    let (ia32_emulation, ia32_emulation_source) = ia32_emulation();
    let linux = cfg!(target_os = "linux");
    let notif = seccomp.user_notif == Tristate::Yes;
    let filter = seccomp.filter == Tristate::Yes;
    let protections = vec![
        ProtectionSupport {
            protection: "filesystem read/write/execute",
            mechanism: "Landlock fs rights (ABI 1)",
            available: landlock.fs,
        },
        ProtectionSupport {
            protection: "cross-directory rename/link",
            mechanism: "Landlock REFER (ABI 2; denied outright on ABI 1)",
            available: landlock.fs,
        },
        ProtectionSupport {
            protection: "truncate",
            mechanism: "Landlock TRUNCATE (ABI 3)",
            available: landlock.truncate,
        },
        ProtectionSupport {
            protection: "TCP connect/bind ports",
            mechanism: "Landlock net rules (ABI 4)",
            available: landlock.tcp,
        },
        ProtectionSupport {
            protection: "device ioctl",
            mechanism: "Landlock IOCTL_DEV (ABI 5)",
            available: landlock.ioctl_dev,
        },
        ProtectionSupport {
            protection: "signals / abstract unix sockets",
            mechanism: "Landlock scopes (ABI 6)",
            available: landlock.scopes,
        },
        ProtectionSupport {
            protection: "UDP/ICMP/raw sockets when blocked",
            mechanism: "seccomp socket() family filter",
            available: filter,
        },
        ProtectionSupport {
            protection: "unix datagrams to outside sockets",
            mechanism: "seccomp socket() type filter (AF_UNIX)",
            available: filter,
        },
        ProtectionSupport {
            protection: "escape syscalls (ptrace, bpf, ...)",
            mechanism: "seccomp deny-list",
            available: filter,
        },
        ProtectionSupport {
            protection: "runtime elevation (open trapping)",
            mechanism: "seccomp user notification",
            available: notif,
        },
        ProtectionSupport {
            protection: "no privilege gain through exec",
            mechanism: "PR_SET_NO_NEW_PRIVS",
            available: linux,
        },
        ProtectionSupport {
            protection: "System V IPC of other programs",
            mechanism: "IPC namespace (root) or seccomp",
            available: linux,
        },
        ProtectionSupport {
            protection: "no capabilities (root loses CAP_*)",
            mechanism: "capset + PR_CAPBSET_DROP + securebits",
            available: linux,
        },
    ];
    Support {
        os: std::env::consts::OS,
        kernel_release: kernel_release(),
        landlock,
        seccomp,
        no_new_privs: linux,
        ia32_emulation,
        ia32_emulation_source,
        protections,
    }
}

fn kernel_release() -> String {
    rustix::system::uname()
        .release()
        .to_string_lossy()
        .into_owned()
}

/// Probe Landlock.
///
/// One ruleset asks for everything nono probes at once (the features of ABI 1 to 7, with a
/// hard requirement): where the kernel accepts it, every feature is present, and that one
/// probe (a version query and a `landlock_create_ruleset`) stands for the seven of
/// `probe_each_feature`. Otherwise the features are probed one by one as before, so a
/// feature the kernel refuses shows up as missing exactly as it always did: nothing is
/// inferred from the ABI number alone.
#[cfg(target_os = "linux")]
#[must_use]
pub fn landlock_support() -> LandlockSupport {
    use landlock::{
        AccessFs, AccessNet, CompatLevel, Compatible, Ruleset, RulesetAttr, RulesetCreatedAttr,
        Scope,
    };
    let everything = Ruleset::default()
        .set_compatibility(CompatLevel::HardRequirement)
        .handle_access(
            AccessFs::Execute | AccessFs::Refer | AccessFs::Truncate | AccessFs::IoctlDev,
        )
        .and_then(|r| r.handle_access(AccessNet::ConnectTcp))
        .and_then(|r| r.scope(Scope::Signal))
        .and_then(Ruleset::create)
        .and_then(|r| r.log_new_exec(true))
        .is_ok();
    if everything {
        return LandlockSupport {
            abi: 7,
            fs: true,
            refer: true,
            truncate: true,
            tcp: true,
            ioctl_dev: true,
            scopes: true,
            audit_flags: true,
        };
    }
    probe_each_feature()
}

/// Probe Landlock feature by feature (one ruleset per feature).
#[cfg(target_os = "linux")]
#[must_use]
fn probe_each_feature() -> LandlockSupport {
    use landlock::{
        AccessFs, AccessNet, CompatLevel, Compatible, Ruleset, RulesetAttr, RulesetCreatedAttr,
        Scope,
    };
    fn probe_fs(access: AccessFs) -> bool {
        Ruleset::default()
            .set_compatibility(CompatLevel::HardRequirement)
            .handle_access(access)
            .and_then(Ruleset::create)
            .is_ok()
    }
    let fs = probe_fs(AccessFs::Execute);
    let refer = probe_fs(AccessFs::Refer);
    let truncate = probe_fs(AccessFs::Truncate);
    let tcp = Ruleset::default()
        .set_compatibility(CompatLevel::HardRequirement)
        .handle_access(AccessNet::ConnectTcp)
        .and_then(Ruleset::create)
        .is_ok();
    let ioctl_dev = probe_fs(AccessFs::IoctlDev);
    let scopes = Ruleset::default()
        .set_compatibility(CompatLevel::HardRequirement)
        .scope(Scope::Signal)
        .and_then(Ruleset::create)
        .is_ok();
    let audit_flags = Ruleset::default()
        .set_compatibility(CompatLevel::HardRequirement)
        .handle_access(AccessFs::Execute)
        .and_then(Ruleset::create)
        .and_then(|r| r.log_new_exec(true))
        .is_ok();
    let abi = [fs, refer, truncate, tcp, ioctl_dev, scopes, audit_flags]
        .iter()
        .take_while(|b| **b)
        .count();
    LandlockSupport {
        abi: u32::try_from(abi).unwrap_or(0),
        fs,
        refer,
        truncate,
        tcp,
        ioctl_dev,
        scopes,
        audit_flags,
    }
}

/// Landlock does not exist on this OS.
#[cfg(not(target_os = "linux"))]
#[must_use]
pub fn landlock_support() -> LandlockSupport {
    LandlockSupport::default()
}

/// Probe seccomp.
#[must_use]
pub fn seccomp_support() -> SeccompSupport {
    if !cfg!(target_os = "linux") {
        return SeccompSupport {
            filter: Tristate::No,
            user_notif: Tristate::No,
        };
    }
    // `Seccomp:` is present in /proc/PID/status iff the kernel has CONFIG_SECCOMP; the
    // actions_avail sysctl exists with CONFIG_SECCOMP_FILTER and lists the return actions.
    let actions = std::fs::read_to_string("/proc/sys/kernel/seccomp/actions_avail");
    let filter = match &actions {
        Ok(_) => Tristate::Yes,
        Err(_) => match std::fs::read_to_string("/proc/self/status") {
            Ok(s) if !s.lines().any(|l| l.starts_with("Seccomp:")) => Tristate::No,
            _ => Tristate::Unknown,
        },
    };
    let user_notif = match &actions {
        Ok(a) if a.split_whitespace().any(|w| w == "user_notif") => Tristate::Yes,
        Ok(_) => Tristate::No,
        Err(_) if filter == Tristate::No => Tristate::No,
        Err(_) => Tristate::Unknown,
    };
    SeccompSupport { filter, user_notif }
}

fn ia32_emulation() -> (Tristate, String) {
    if !(cfg!(target_os = "linux") && cfg!(target_arch = "x86_64")) {
        return (Tristate::No, "not x86_64 Linux".to_owned());
    }
    // Booted with ia32_emulation=0/false (CONFIG_IA32_EMULATION_DEFAULT_DISABLED lets it be
    // switched on the command line).
    if let Ok(cmdline) = std::fs::read_to_string("/proc/cmdline") {
        for w in cmdline.split_whitespace() {
            match w {
                "ia32_emulation=0" | "ia32_emulation=false" | "ia32_emulation=n" => {
                    return (Tristate::No, "/proc/cmdline".to_owned())
                }
                "ia32_emulation=1" | "ia32_emulation=true" | "ia32_emulation=y" => {
                    return (Tristate::Yes, "/proc/cmdline".to_owned())
                }
                _ => {}
            }
        }
    }
    let config = format!("/boot/config-{}", kernel_release());
    if let Ok(text) = std::fs::read_to_string(&config) {
        let on = text.lines().any(|l| l == "CONFIG_IA32_EMULATION=y");
        return (if on { Tristate::Yes } else { Tristate::No }, config);
    }
    // The syscall table symbol exists only with CONFIG_IA32_EMULATION (names are visible
    // even where addresses are hidden).
    if let Ok(syms) = std::fs::read_to_string("/proc/kallsyms") {
        let on = syms.lines().any(|l| {
            l.split_whitespace()
                .nth(2)
                .is_some_and(|s| s == "ia32_sys_call" || s == "ia32_sys_call_table")
        });
        return (
            if on { Tristate::Yes } else { Tristate::No },
            "/proc/kallsyms".to_owned(),
        );
    }
    (
        Tristate::Unknown,
        "no readable kernel config or /proc/kallsyms".to_owned(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn support_reports_a_coherent_picture() {
        let s = support();
        assert!(!s.kernel_release.is_empty());
        // The ABI is the count of consecutive features.
        let l = s.landlock;
        let flags = [
            l.fs,
            l.refer,
            l.truncate,
            l.tcp,
            l.ioctl_dev,
            l.scopes,
            l.audit_flags,
        ];
        let abi = flags.iter().take_while(|b| **b).count() as u32;
        assert_eq!(l.abi, abi);
        let text = s.to_string();
        assert!(text.contains("landlock: ABI"), "{text}");
        let json = serde_json::to_value(&s).unwrap();
        assert!(json["protections"].as_array().unwrap().len() >= 8);
        if std::env::var_os("NONO_REQUIRE_SANDBOX").is_some_and(|v| v == "1") {
            assert!(
                l.abi >= 6,
                "NONO_REQUIRE_SANDBOX=1 but Landlock ABI {}",
                l.abi
            );
            assert_eq!(s.seccomp.user_notif, Tristate::Yes);
        }
    }

    /// The single probe gives what probing feature by feature gives.
    #[cfg(target_os = "linux")]
    #[test]
    fn one_probe_agrees_with_probing_each_feature() {
        assert_eq!(landlock_support(), probe_each_feature());
    }
}
