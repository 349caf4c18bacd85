//! Child-side client for explicit capability requests (placeholder).
