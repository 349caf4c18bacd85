//! A tiny classic-BPF assembler for seccomp programs.
