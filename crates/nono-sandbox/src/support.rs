//! `support()`: what the running kernel can enforce (Landlock ABI and features, seccomp notify).
