//! The filter builders as they were before the decision tree and the merged program (two
//! linear chains): kept for tests only, as the reference the new builder is compared
//! against on random inputs (`filter::tests::equivalence`).

use super::*;

pub(super) fn build_deny(network: &NetworkMode, deny_sysv: bool, refuse_unix_dgram: bool) -> Built {
    let mut asm = Assembler::new();
    let mut rets = Returns::new();
    let allow = rets.get(&mut asm, action::ALLOW);
    prologue(&mut asm, &mut rets)?;

    // Unconditional rows: one compare each on `nr`.
    let sysv = if deny_sysv { SYSV_TABLE } else { &[] };
    for e in DENY_TABLE
        .iter()
        .chain(sysv)
        .filter(|e| e.when == When::Always)
    {
        let to = rets.errno(&mut asm, e.errno);
        asm.jump(Cond::Eq, e.nr, to, Target::Next);
    }
    // Conditional rows: one branch per syscall to a block that inspects its arguments.
    let mut groups: Vec<(u32, Label)> = Vec::new();
    for e in DENY_TABLE.iter().filter(|e| e.when != When::Always) {
        if !groups.iter().any(|(nr, _)| *nr == e.nr) {
            let l = asm.label();
            asm.jump(Cond::Eq, e.nr, l, Target::Next);
            groups.push((e.nr, l));
        }
    }
    let family_filter = *network != NetworkMode::Allow;
    let sockets = if family_filter || refuse_unix_dgram {
        let socket = asm.label();
        let pair = asm.label();
        asm.jump(Cond::Eq, sysno::socket, socket, Target::Next);
        asm.jump(Cond::Eq, sysno::socketpair, pair, Target::Next);
        Some((socket, pair))
    } else {
        None
    };
    // TCP ports only: `sendmsg`/`sendmmsg` with `MSG_FASTOPEN` refused (see `DenyStage::FastOpen`).
    let fastopen = if matches!(network, NetworkMode::Ports { .. }) {
        let msg = asm.label();
        let mmsg = asm.label();
        asm.jump(Cond::Eq, sysno::sendmsg, msg, Target::Next);
        asm.jump(Cond::Eq, sysno::sendmmsg, mmsg, Target::Next);
        Some((msg, mmsg))
    } else {
        None
    };
    asm.goto(allow);
    if let Some((msg, mmsg)) = fastopen {
        let refuse = rets.errno(&mut asm, libc::EACCES);
        asm.bind(msg);
        asm.load(Field::ArgLo(2));
        asm.jump(Cond::Set, MSG_FASTOPEN, refuse, allow);
        asm.bind(mmsg);
        asm.load(Field::ArgLo(3));
        asm.jump(Cond::Set, MSG_FASTOPEN, refuse, allow);
    }

    for (nr, label) in groups {
        asm.bind(label);
        for e in DENY_TABLE
            .iter()
            .filter(|e| e.nr == nr && e.when != When::Always)
        {
            let deny = rets.errno(&mut asm, e.errno);
            emit_condition(&mut asm, e.when, deny, allow);
        }
        asm.goto(allow);
    }

    if let Some((socket, pair)) = sockets {
        // Where an AF_UNIX socket goes: straight to ALLOW, or through the type check.
        let unix = if refuse_unix_dgram {
            asm.label()
        } else {
            allow
        };
        // Where a socketpair of another family goes (the kernel only pairs AF_UNIX).
        let other_pair = if family_filter {
            rets.errno(&mut asm, libc::EAFNOSUPPORT)
        } else {
            allow
        };
        asm.bind(socket);
        asm.load(Field::ArgLo(0));
        asm.jump(Cond::Eq, AF_UNIX, unix, Target::Next);
        match network {
            NetworkMode::Allow => asm.goto(allow),
            NetworkMode::Block => {
                let no_family = rets.errno(&mut asm, libc::EAFNOSUPPORT);
                asm.goto(no_family);
            }
            NetworkMode::Ports { .. } => {
                let no_family = rets.errno(&mut asm, libc::EAFNOSUPPORT);
                let no_proto = rets.errno(&mut asm, libc::EPROTONOSUPPORT);
                let inet = asm.label();
                asm.jump(Cond::Eq, AF_INET, inet, Target::Next);
                asm.jump(Cond::Eq, AF_INET6, inet, no_family);
                asm.bind(inet);
                asm.load(Field::ArgLo(1));
                asm.and(SOCK_TYPE_MASK);
                asm.jump(Cond::Eq, SOCK_STREAM, Target::Next, no_proto);
                asm.load(Field::ArgLo(2));
                asm.jump(Cond::Eq, 0, allow, Target::Next);
                asm.jump(Cond::Eq, IPPROTO_TCP, allow, no_proto);
            }
        }
        asm.bind(pair);
        asm.load(Field::ArgLo(0));
        asm.jump(Cond::Eq, AF_UNIX, unix, other_pair);
        if refuse_unix_dgram {
            let refuse = rets.errno(&mut asm, libc::EACCES);
            asm.bind(unix);
            unix_type_check(&mut asm, allow, refuse);
        }
    }

    rets.emit(&mut asm);
    Ok(asm.finish())
}

pub(super) fn build_notify(set: &NotifySet) -> Built {
    let mut asm = Assembler::new();
    let mut rets = Returns::new();
    let allow = rets.get(&mut asm, action::ALLOW);
    let notify = rets.get(&mut asm, action::USER_NOTIF);
    prologue(&mut asm, &mut rets)?;
    let mut sendto = None;
    let mut unix_socket = None;
    let mut other_pid = None;
    let mut other_who = None;
    // In declaration order, so the open family is compared first and `socket`/`socketpair`
    // (declared last) add nothing to the path of a trapped open.
    for s in set.iter() {
        let Some(nr) = s.nr() else { continue };
        if s == Syscall::SendTo {
            // Only with a destination address (args[4] != NULL): `send` is `sendto(.., NULL, 0)`.
            let l = asm.label();
            asm.jump(Cond::Eq, nr, l, Target::Next);
            sendto = Some(l);
        } else if Syscall::UNIX_DATAGRAM.contains(&s) {
            // Only a Unix datagram socket (both calls take domain and type in args[0..2]).
            let l = *unix_socket.get_or_insert_with(|| asm.label());
            asm.jump(Cond::Eq, nr, l, Target::Next);
        } else if s == Syscall::IoprioSet {
            let l = *other_who.get_or_insert_with(|| asm.label());
            asm.jump(Cond::Eq, nr, l, Target::Next);
        } else if Syscall::OTHER_PROCESS.contains(&s) {
            let l = *other_pid.get_or_insert_with(|| asm.label());
            asm.jump(Cond::Eq, nr, l, Target::Next);
        } else {
            asm.jump(Cond::Eq, nr, notify, Target::Next);
        }
    }
    asm.goto(allow);
    if let Some(l) = sendto {
        asm.bind(l);
        asm.load(Field::ArgLo(4));
        asm.jump(Cond::Eq, 0, Target::Next, notify);
        asm.load(Field::ArgHi(4));
        asm.jump(Cond::Eq, 0, allow, notify);
    }
    if let Some(l) = unix_socket {
        asm.bind(l);
        asm.load(Field::ArgLo(0));
        asm.jump(Cond::Eq, AF_UNIX, Target::Next, allow);
        unix_type_check(&mut asm, allow, notify);
    }
    // Another process: a pid_t argument that is not 0 ("the caller").
    for (label, arg) in [(other_pid, 0), (other_who, 1)] {
        if let Some(l) = label {
            asm.bind(l);
            asm.load(Field::ArgLo(arg));
            asm.jump(Cond::Eq, 0, allow, notify);
        }
    }
    rets.emit(&mut asm);
    Ok(asm.finish())
}
