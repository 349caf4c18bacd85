//! The seccomp programs themselves: building them (done once per sandbox, before fork) and
//! the decision for the hot syscalls, run by the reference interpreter, with the number of
//! instructions the kernel runs printed first (the figure that matters where the kernel's
//! action cache does not skip the program: arguments are inspected, or before Linux 5.11).
//!
//! `cargo bench -p nono-sandbox --bench seccomp_filter`.

#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
mod imp {
    use std::hint::black_box;

    use criterion::Criterion;
    use nono_sandbox::linux::seccomp::bpf::SeccompData;
    use nono_sandbox::linux::seccomp::{Filter, NotifySet, Syscall, NATIVE_AUDIT_ARCH};
    use nono_sandbox::CapabilitySet;

    fn everything() -> NotifySet {
        let mut set = NotifySet::new();
        for s in Syscall::ALL {
            set.insert(*s);
        }
        set
    }

    fn call(nr: libc::c_long, args: [u64; 6]) -> SeccompData {
        SeccompData {
            nr: i32::try_from(nr).unwrap(),
            arch: NATIVE_AUDIT_ARCH.unwrap(),
            instruction_pointer: 0x1000,
            args,
        }
    }

    pub fn main() {
        let caps = CapabilitySet::new();
        let wrap = Filter::for_caps(&caps).unwrap();
        let run = Filter::for_caps_with_notify(&caps, &everything()).unwrap();
        let read = [3, 0x1000, 4096, 0, 0, 0];
        let calls = [
            ("read", call(libc::SYS_read, read)),
            ("pread64", call(libc::SYS_pread64, read)),
            ("futex", call(libc::SYS_futex, read)),
            ("getppid", call(libc::SYS_getppid, [0; 6])),
            ("openat", call(libc::SYS_openat, [0, 0x1000, 0, 0, 0, 0])),
            ("ioctl", call(libc::SYS_ioctl, [1, 0x5401, 0, 0, 0, 0])),
        ];
        eprintln!(
            "program length: deny-list {}, deny-list+notify {}",
            wrap.instructions().len(),
            run.instructions().len()
        );
        for (name, d) in &calls {
            eprintln!(
                "{name}: deny-list {} instructions, deny-list+notify {}",
                wrap.cost(d),
                run.cost(d)
            );
        }
        let mut c = Criterion::default().configure_from_args();
        let mut build = c.benchmark_group("seccomp_build");
        build.bench_function("deny_list", |b| {
            b.iter(|| Filter::for_caps(black_box(&caps)).unwrap());
        });
        let set = everything();
        build.bench_function("deny_list_with_notify", |b| {
            b.iter(|| Filter::for_caps_with_notify(black_box(&caps), black_box(&set)).unwrap());
        });
        build.finish();
        let mut decide = c.benchmark_group("seccomp_decide");
        for (name, d) in &calls {
            decide.bench_function(format!("wrap/{name}"), |b| {
                b.iter(|| wrap.evaluate(black_box(d)));
            });
            decide.bench_function(format!("run/{name}"), |b| {
                b.iter(|| run.evaluate(black_box(d)));
            });
        }
        decide.finish();
        c.final_summary();
    }
}

fn main() {
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    imp::main();
}
