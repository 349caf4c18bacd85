//! `explain()`: the capability model's verdict on one path or network operation, with the rule that decided it.
