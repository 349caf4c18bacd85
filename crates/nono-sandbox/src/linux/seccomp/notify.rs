//! seccomp user-notification primitives: receive, respond, CONTINUE, ID_VALID, ADDFD.
