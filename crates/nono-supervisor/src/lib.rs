//! nono-supervisor: spawn and supervise a sandboxed child, broker its trapped opens, decide with policy.
