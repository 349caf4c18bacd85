//! A tiny classic-BPF assembler for seccomp programs: forward labels, automatic long-jump
//! relaxation, and a reference interpreter.
//!
//! Classic BPF conditional jumps encode their two targets as `u8` offsets relative to the
//! next instruction, and every jump goes forward. Hand-counting offsets is where seccomp
//! filters break, so programs here are written with [`Label`]s:
//!
//! ```text
//!   asm.load(Field::Nr);
//!   asm.jump(Cond::Eq, 101, deny, Target::Next);   // jt -> label, jf -> fall through
//!   asm.ret(ALLOW);
//!   asm.bind(deny);
//!   asm.ret(ERRNO | EPERM);
//! ```
//!
//! [`Assembler::finish`] resolves labels and checks what the kernel's checker would reject
//! later, at build time instead of in the forked child:
//! - a label that is never bound, bound twice, or jumped to backwards;
//! - a jump past the last instruction, or a program whose last instruction can fall off the end;
//! - a load outside `struct seccomp_data` or misaligned;
//! - more than [`MAX_INSNS`] instructions.
//!
//! A conditional branch whose target is more than 255 instructions away is *relaxed*: the
//! branch is pointed at a trampoline — an unconditional `ja` (32-bit offset) placed right
//! after it — and the assembler repeats until every branch fits, since each insertion can
//! push other branches out of range.

use std::collections::HashSet;

/// The kernel's limit on the length of a classic-BPF program (`BPF_MAXINSNS`).
pub const MAX_INSNS: usize = 4096;

/// Size of `struct seccomp_data`: `nr`, `arch`, `instruction_pointer`, `args[6]`.
pub const SECCOMP_DATA_LEN: u32 = 64;

// Opcode pieces (linux/bpf_common.h).
const BPF_LD: u16 = 0x00;
const BPF_ALU: u16 = 0x04;
const BPF_JMP: u16 = 0x05;
const BPF_RET: u16 = 0x06;
const BPF_W: u16 = 0x00;
const BPF_ABS: u16 = 0x20;
const BPF_AND: u16 = 0x50;
const BPF_JA: u16 = 0x00;
const BPF_JEQ: u16 = 0x10;
const BPF_JGT: u16 = 0x20;
const BPF_JGE: u16 = 0x30;
const BPF_JSET: u16 = 0x40;
const BPF_K: u16 = 0x00;

/// One classic-BPF instruction, laid out exactly like the kernel's `struct sock_filter`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Insn {
    /// Opcode.
    pub code: u16,
    /// Offset to the next instruction when the condition holds.
    pub jt: u8,
    /// Offset to the next instruction when it does not.
    pub jf: u8,
    /// Immediate operand.
    pub k: u32,
}

/// A field of `struct seccomp_data` (little-endian layout; the supported arches are LE).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// The syscall number.
    Nr,
    /// The `AUDIT_ARCH_*` value of the calling convention used.
    Arch,
    /// The low 32 bits of argument `0..=5`.
    ArgLo(u8),
    /// The high 32 bits of argument `0..=5`.
    ArgHi(u8),
}

impl Field {
    /// Byte offset in `struct seccomp_data`.
    #[must_use]
    pub fn offset(self) -> u32 {
        match self {
            Field::Nr => 0,
            Field::Arch => 4,
            Field::ArgLo(i) => 16 + 8 * u32::from(i),
            Field::ArgHi(i) => 20 + 8 * u32::from(i),
        }
    }
}

/// Comparison of the accumulator with an immediate (all unsigned).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cond {
    /// `A == k`
    Eq,
    /// `A > k`
    Gt,
    /// `A >= k`
    Ge,
    /// `A & k != 0`
    Set,
}

impl Cond {
    fn opcode(self) -> u16 {
        BPF_JMP
            | BPF_K
            | match self {
                Cond::Eq => BPF_JEQ,
                Cond::Gt => BPF_JGT,
                Cond::Ge => BPF_JGE,
                Cond::Set => BPF_JSET,
            }
    }
}

/// A position in the program, bound with [`Assembler::bind`]. Jumps may only go forward.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Label(usize);

/// Where a conditional branch goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The next instruction (fall through).
    Next,
    /// A label.
    Label(Label),
}

impl From<Label> for Target {
    fn from(l: Label) -> Self {
        Target::Label(l)
    }
}

/// What is wrong with a program. These are bugs in the filter builder, reported before any
/// process is forked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BpfError {
    /// A label was jumped to but never bound.
    #[error("BPF label {0} is used but never bound")]
    Unbound(usize),
    /// A label was bound twice.
    #[error("BPF label {0} is bound twice")]
    BoundTwice(usize),
    /// A jump goes backwards (classic BPF only jumps forward).
    #[error("BPF jump at instruction {at} goes backwards to label {label}")]
    Backward {
        /// Instruction index of the jump.
        at: usize,
        /// The label.
        label: usize,
    },
    /// A jump or fall-through leaves the program.
    #[error("BPF instruction {at} can run past the end of the program")]
    PastEnd {
        /// Instruction index.
        at: usize,
    },
    /// A load outside `struct seccomp_data` or not 4-byte aligned.
    #[error("BPF load at offset {0} is outside struct seccomp_data or misaligned")]
    BadLoad(u32),
    /// The program is empty or longer than the kernel accepts.
    #[error("BPF program has {0} instructions; the kernel accepts 1 to 4096")]
    Length(usize),
}

#[derive(Debug, Clone, Copy)]
enum Item {
    Stmt(Insn),
    Jump {
        cond: Cond,
        k: u32,
        t: Target,
        f: Target,
    },
    Ja(Label),
    Bind(Label),
}

/// Builds a program from instructions and labels; see the module docs.
#[derive(Debug, Default)]
pub struct Assembler {
    items: Vec<Item>,
    labels: usize,
    bound: Vec<bool>,
    error: Option<BpfError>,
}

impl Assembler {
    /// An empty program.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// A fresh, unbound label.
    pub fn label(&mut self) -> Label {
        self.labels += 1;
        self.bound.push(false);
        Label(self.labels - 1)
    }

    /// Place `label` before the next instruction.
    pub fn bind(&mut self, label: Label) {
        if std::mem::replace(&mut self.bound[label.0], true) {
            self.error.get_or_insert(BpfError::BoundTwice(label.0));
        }
        self.items.push(Item::Bind(label));
    }

    /// `A = seccomp_data[field]` (32-bit load).
    pub fn load(&mut self, field: Field) {
        self.load_abs(field.offset());
    }

    /// `A = *(u32 *)(seccomp_data + offset)`.
    pub fn load_abs(&mut self, offset: u32) {
        if offset % 4 != 0 || offset >= SECCOMP_DATA_LEN {
            self.error.get_or_insert(BpfError::BadLoad(offset));
        }
        self.items.push(Item::Stmt(Insn {
            code: BPF_LD | BPF_W | BPF_ABS,
            jt: 0,
            jf: 0,
            k: offset,
        }));
    }

    /// `A &= k`.
    pub fn and(&mut self, k: u32) {
        self.items.push(Item::Stmt(Insn {
            code: BPF_ALU | BPF_AND | BPF_K,
            jt: 0,
            jf: 0,
            k,
        }));
    }

    /// `if A <cond> k goto t else goto f`.
    pub fn jump(&mut self, cond: Cond, k: u32, t: impl Into<Target>, f: impl Into<Target>) {
        self.items.push(Item::Jump {
            cond,
            k,
            t: t.into(),
            f: f.into(),
        });
    }

    /// Unconditional jump (32-bit offset, never needs relaxation).
    pub fn goto(&mut self, label: Label) {
        self.items.push(Item::Ja(label));
    }

    /// Return `k` (a `SECCOMP_RET_*` action) to the kernel.
    pub fn ret(&mut self, k: u32) {
        self.items.push(Item::Stmt(Insn {
            code: BPF_RET | BPF_K,
            jt: 0,
            jf: 0,
            k,
        }));
    }

    /// Resolve labels (relaxing long branches) and check the program.
    pub fn finish(mut self) -> Result<Vec<Insn>, BpfError> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        let mut referenced = HashSet::new();
        for item in &self.items {
            match *item {
                Item::Jump { t, f, .. } => {
                    for target in [t, f] {
                        if let Target::Label(l) = target {
                            referenced.insert(l.0);
                        }
                    }
                }
                Item::Ja(l) => {
                    referenced.insert(l.0);
                }
                Item::Stmt(_) | Item::Bind(_) => {}
            }
        }
        if let Some(&l) = referenced.iter().find(|&&l| !self.bound[l]) {
            return Err(BpfError::Unbound(l));
        }
        loop {
            let addr = self.addresses();
            let mut changed = false;
            let mut out = Vec::with_capacity(self.items.len());
            let mut pc = 0usize;
            for item in std::mem::take(&mut self.items) {
                let Item::Jump { cond, k, t, f } = item else {
                    if !matches!(item, Item::Bind(_)) {
                        pc += 1;
                    }
                    out.push(item);
                    continue;
                };
                let far = |target: Target| -> Result<bool, BpfError> {
                    match target {
                        Target::Next => Ok(false),
                        Target::Label(l) => {
                            let to = addr[l.0];
                            if to <= pc {
                                return Err(BpfError::Backward { at: pc, label: l.0 });
                            }
                            Ok(to - (pc + 1) > usize::from(u8::MAX))
                        }
                    }
                };
                let (far_t, far_f) = (far(t)?, far(f)?);
                pc += 1;
                if !far_t && !far_f {
                    out.push(item);
                    continue;
                }
                changed = true;
                // jcond -> trampolines right behind it; `Next` now means "after them".
                let after = self.label();
                let mut trampolines = Vec::new();
                let mut route = |target: Target, is_far: bool| -> Target {
                    match target {
                        Target::Label(l) if is_far => {
                            let tramp = self.label();
                            trampolines.push((tramp, l));
                            Target::Label(tramp)
                        }
                        Target::Next => Target::Label(after),
                        near => near,
                    }
                };
                let t2 = route(t, far_t);
                let f2 = route(f, far_f);
                out.push(Item::Jump {
                    cond,
                    k,
                    t: t2,
                    f: f2,
                });
                // `pc` keeps counting in the old layout, like `addr`; the next pass re-measures.
                for (tramp, dest) in trampolines {
                    out.push(Item::Bind(tramp));
                    out.push(Item::Ja(dest));
                }
                out.push(Item::Bind(after));
            }
            self.items = out;
            if !changed {
                break;
            }
        }
        self.emit()
    }

    /// Instruction index of every label.
    fn addresses(&self) -> Vec<usize> {
        let mut addr = vec![usize::MAX; self.labels];
        let mut pc = 0;
        for item in &self.items {
            match item {
                Item::Bind(l) => addr[l.0] = pc,
                _ => pc += 1,
            }
        }
        addr
    }

    fn emit(&self) -> Result<Vec<Insn>, BpfError> {
        let addr = self.addresses();
        let len = self
            .items
            .iter()
            .filter(|i| !matches!(i, Item::Bind(_)))
            .count();
        if len == 0 || len > MAX_INSNS {
            return Err(BpfError::Length(len));
        }
        let mut prog = Vec::with_capacity(len);
        let offset = |pc: usize, target: Target| -> Result<usize, BpfError> {
            let to = match target {
                Target::Next => pc + 1,
                Target::Label(l) => addr[l.0],
            };
            if to >= len {
                return Err(BpfError::PastEnd { at: pc });
            }
            if to <= pc {
                return Err(BpfError::Backward {
                    at: pc,
                    label: match target {
                        Target::Label(l) => l.0,
                        Target::Next => usize::MAX,
                    },
                });
            }
            Ok(to - (pc + 1))
        };
        for item in &self.items {
            let pc = prog.len();
            match *item {
                Item::Bind(_) => {}
                Item::Stmt(insn) => {
                    if insn.code & 0x07 != BPF_RET && pc + 1 >= len {
                        return Err(BpfError::PastEnd { at: pc });
                    }
                    prog.push(insn);
                }
                Item::Jump { cond, k, t, f } => {
                    // Relaxation guarantees both fit; `try_from` keeps that checked.
                    let jt =
                        u8::try_from(offset(pc, t)?).map_err(|_| BpfError::PastEnd { at: pc })?;
                    let jf =
                        u8::try_from(offset(pc, f)?).map_err(|_| BpfError::PastEnd { at: pc })?;
                    prog.push(Insn {
                        code: cond.opcode(),
                        jt,
                        jf,
                        k,
                    });
                }
                Item::Ja(l) => {
                    let off = offset(pc, Target::Label(l))?;
                    prog.push(Insn {
                        code: BPF_JMP | BPF_JA,
                        jt: 0,
                        jf: 0,
                        // len <= 4096, so the offset fits.
                        k: u32::try_from(off).map_err(|_| BpfError::Length(len))?,
                    });
                }
            }
        }
        Ok(prog)
    }
}

/// The input of a seccomp filter (`struct seccomp_data`), for [`run`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SeccompData {
    /// Syscall number.
    pub nr: i32,
    /// `AUDIT_ARCH_*`.
    pub arch: u32,
    /// Instruction pointer at the syscall.
    pub instruction_pointer: u64,
    /// Raw arguments.
    pub args: [u64; 6],
}

impl SeccompData {
    fn word(&self, offset: u32) -> Option<u32> {
        let arg = |i: u32| self.args.get(usize::try_from(i).ok()?).copied();
        Some(match offset {
            0 => self.nr as u32,
            4 => self.arch,
            8 => self.instruction_pointer as u32,
            12 => (self.instruction_pointer >> 32) as u32,
            16..=63 if offset % 4 == 0 => {
                let v = arg((offset - 16) / 8)?;
                if offset % 8 == 0 {
                    v as u32
                } else {
                    (v >> 32) as u32
                }
            }
            _ => return None,
        })
    }
}

/// Run a program over `data` the way the kernel would (for the subset of classic BPF this
/// assembler emits) and return the `SECCOMP_RET_*` value. `None` if the program is
/// malformed. Used by tests and by tools that explain a filter's verdict.
#[must_use]
pub fn run(prog: &[Insn], data: &SeccompData) -> Option<u32> {
    run_counted(prog, data).map(|(action, _)| action)
}

/// [`run`], also returning how many instructions were executed (the `ret` included): what a
/// syscall pays for the filter, for tests that keep a hot path short.
#[must_use]
pub fn run_counted(prog: &[Insn], data: &SeccompData) -> Option<(u32, usize)> {
    let mut a: u32 = 0;
    let mut pc = 0usize;
    let mut steps = 0usize;
    loop {
        let insn = prog.get(pc)?;
        pc += 1;
        steps += 1;
        match insn.code {
            c if c == BPF_LD | BPF_W | BPF_ABS => a = data.word(insn.k)?,
            c if c == BPF_ALU | BPF_AND | BPF_K => a &= insn.k,
            c if c == BPF_RET | BPF_K => return Some((insn.k, steps)),
            c if c == BPF_JMP | BPF_JA => pc = pc.checked_add(usize::try_from(insn.k).ok()?)?,
            c => {
                if c & 0x0f != BPF_JMP | BPF_K {
                    return None;
                }
                let holds = match c & 0xf0 {
                    BPF_JEQ => a == insn.k,
                    BPF_JGT => a > insn.k,
                    BPF_JGE => a >= insn.k,
                    BPF_JSET => a & insn.k != 0,
                    _ => return None,
                };
                pc += usize::from(if holds { insn.jt } else { insn.jf });
            }
        }
    }
}

/// Whether the kernel's seccomp action cache (Linux 5.11, `seccomp_is_const_allow` in
/// `kernel/seccomp.c`) would mark syscall `nr` of `arch` as always allowed: it emulates the
/// program with only `nr` and `arch` known and gives up at the first load of anything else
/// (an argument, the instruction pointer). A cached syscall skips the program entirely.
#[must_use]
pub fn is_const_allow(prog: &[Insn], arch: u32, nr: u32) -> bool {
    let mut a: u32 = 0;
    let mut pc = 0usize;
    while let Some(insn) = prog.get(pc) {
        pc += 1;
        match insn.code {
            c if c == BPF_LD | BPF_W | BPF_ABS => {
                a = match insn.k {
                    0 => nr,
                    4 => arch,
                    _ => return false,
                }
            }
            c if c == BPF_ALU | BPF_AND | BPF_K => a &= insn.k,
            c if c == BPF_RET | BPF_K => return insn.k == 0x7fff_0000,
            c if c == BPF_JMP | BPF_JA => {
                let Some(to) = usize::try_from(insn.k).ok().and_then(|k| pc.checked_add(k)) else {
                    return false;
                };
                pc = to;
            }
            c => {
                if c & 0x0f != BPF_JMP | BPF_K {
                    return false;
                }
                let holds = match c & 0xf0 {
                    BPF_JEQ => a == insn.k,
                    BPF_JGT => a > insn.k,
                    BPF_JGE => a >= insn.k,
                    BPF_JSET => a & insn.k != 0,
                    _ => return false,
                };
                pc += usize::from(if holds { insn.jt } else { insn.jf });
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn simple_program_resolves_labels() {
        let mut asm = Assembler::new();
        let deny = asm.label();
        asm.load(Field::Nr);
        asm.jump(Cond::Eq, 7, deny, Target::Next);
        asm.ret(1);
        asm.bind(deny);
        asm.ret(2);
        let prog = asm.finish().unwrap();
        assert_eq!(prog.len(), 4);
        assert_eq!((prog[1].jt, prog[1].jf), (1, 0));
        let d = |nr| SeccompData {
            nr,
            ..SeccompData::default()
        };
        assert_eq!(run(&prog, &d(7)), Some(2));
        assert_eq!(run(&prog, &d(8)), Some(1));
    }

    #[test]
    fn malformed_programs_are_refused() {
        let mut asm = Assembler::new();
        let l = asm.label();
        asm.load(Field::Nr);
        asm.jump(Cond::Eq, 1, l, Target::Next);
        asm.ret(0);
        assert_eq!(asm.finish(), Err(BpfError::Unbound(0)));

        let mut asm = Assembler::new();
        let l = asm.label();
        asm.bind(l);
        asm.load(Field::Nr);
        asm.jump(Cond::Eq, 1, l, Target::Next);
        asm.ret(0);
        assert!(matches!(asm.finish(), Err(BpfError::Backward { .. })));

        let mut asm = Assembler::new();
        asm.load(Field::Nr);
        assert_eq!(asm.finish(), Err(BpfError::PastEnd { at: 0 }));

        let mut asm = Assembler::new();
        let l = asm.label();
        asm.load(Field::Nr);
        asm.jump(Cond::Eq, 1, l, Target::Next);
        asm.ret(0);
        asm.bind(l);
        assert_eq!(asm.finish(), Err(BpfError::PastEnd { at: 1 }));

        let mut asm = Assembler::new();
        asm.load_abs(64);
        asm.ret(0);
        assert_eq!(asm.finish(), Err(BpfError::BadLoad(64)));

        let mut asm = Assembler::new();
        let l = asm.label();
        asm.bind(l);
        asm.bind(l);
        asm.ret(0);
        assert_eq!(asm.finish(), Err(BpfError::BoundTwice(0)));

        let mut asm = Assembler::new();
        for _ in 0..=MAX_INSNS {
            asm.ret(0);
        }
        assert_eq!(asm.finish(), Err(BpfError::Length(MAX_INSNS + 1)));
    }

    #[test]
    fn args_are_loaded_as_little_endian_halves() {
        let mut asm = Assembler::new();
        let hi_ok = asm.label();
        let bit_clear = asm.label();
        asm.load(Field::ArgHi(5));
        asm.and(0xff);
        asm.jump(Cond::Eq, 0x12, hi_ok, Target::Next);
        asm.ret(0);
        asm.bind(hi_ok);
        asm.load(Field::ArgLo(5));
        asm.jump(Cond::Set, 1, Target::Next, bit_clear);
        asm.ret(1);
        asm.bind(bit_clear);
        asm.ret(2);
        let prog = asm.finish().unwrap();
        let d = |v| SeccompData {
            args: [0, 0, 0, 0, 0, v],
            ..SeccompData::default()
        };
        assert_eq!(run(&prog, &d(0x3412_0000_0001)), Some(1));
        assert_eq!(run(&prog, &d(0x3412_0000_0002)), Some(2));
        assert_eq!(run(&prog, &d(0x3413_0000_0001)), Some(0));
    }

    /// A linear chain `if nr == values[i] goto ret[dest[i]]`, with `pad` filler loads
    /// before the returns so that many branches are far.
    fn chain(values: &[u32], dest: &[usize], pad: usize, rets: usize) -> Vec<Insn> {
        let mut asm = Assembler::new();
        let labels: Vec<Label> = (0..rets).map(|_| asm.label()).collect();
        asm.load(Field::Nr);
        for (v, d) in values.iter().zip(dest) {
            asm.jump(Cond::Eq, *v, labels[*d], Target::Next);
        }
        for _ in 0..pad {
            asm.load(Field::Nr);
        }
        asm.ret(9999);
        for (i, l) in labels.iter().enumerate() {
            asm.bind(*l);
            for _ in 0..(i * 50) {
                asm.load(Field::Arch);
            }
            asm.ret(u32::try_from(i).unwrap());
        }
        asm.finish().unwrap()
    }

    proptest! {
        #[test]
        fn long_programs_relax_and_keep_their_meaning(
            values in prop::collection::vec(0u32..2000, 1..700),
            dests in prop::collection::vec(0usize..4, 700),
            pad in 0usize..400,
            probe in 0u32..2000,
        ) {
            let dest = &dests[..values.len()];
            let prog = chain(&values, dest, pad, 4);
            prop_assert!(prog.len() <= MAX_INSNS);
            let expect = |nr: u32| {
                values.iter().position(|v| *v == nr).map_or(9999, |i| u32::try_from(dest[i]).unwrap())
            };
            for nr in values.iter().copied().chain([probe]) {
                let d = SeccompData { nr: i32::try_from(nr).unwrap(), ..SeccompData::default() };
                prop_assert_eq!(run(&prog, &d), Some(expect(nr)));
            }
        }
    }
}
