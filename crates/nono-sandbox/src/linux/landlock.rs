//! Landlock: a `CapabilitySet` turned into a ruleset (fs, TCP, scopes) and enforced on the calling thread.
