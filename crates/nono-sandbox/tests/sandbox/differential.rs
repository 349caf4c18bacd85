//! Differential test: the `explain()` model against the real kernel, over random capability sets (proptest).
