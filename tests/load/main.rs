//! Load and fault tests: many supervisors at once, many threads trapping at once, thousands of
//! runtime grants, children dying mid-request, signals to nono, a full audit disk — each
//! followed by a check that no fd, zombie or process was left behind.

mod child;
mod concurrency;
mod faults;
mod grants;
mod harness;
mod lanes;
mod lifecycle;

// The end-to-end harness (locating/building `nono`, scratch dirs outside the default
// profile's grants, the kernel-support check), shared rather than copied.
#[path = "../e2e/harness.rs"]
#[allow(dead_code)]
mod e2e_harness;
