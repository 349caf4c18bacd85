//! Seatbelt (macOS): SBPL profile text generated from a `CapabilitySet`; `apply` only on macOS.
