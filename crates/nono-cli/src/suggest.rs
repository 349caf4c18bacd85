//! "Did you mean": the closest known name to a mistyped subcommand or profile name.
//!
//! clap's own suggestion (Jaro similarity above 0.7) misses short slips such as `nono rn`;
//! this uses the optimal-string-alignment distance (insertions, deletions, substitutions and
//! transpositions of neighbours) and accepts at most two edits, fewer than the word's length.

/// The candidate closest to `word`, if one is close enough to be what was meant.
#[must_use]
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let n = word.chars().count();
    candidates
        .into_iter()
        .filter(|c| *c != word)
        .map(|c| (distance(word, c), c))
        .filter(|(d, _)| *d <= 2 && *d < n)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// The built-in profile a mistyped `-p NAME` probably meant (never for a path).
#[must_use]
pub fn profile(name: &str) -> Option<&'static str> {
    if name.contains('/') || name.ends_with(".json") {
        return None;
    }
    closest(name, nono_supervisor::profile::list())
}

/// Optimal string alignment distance between `a` and `b` (by characters).
fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = v;
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_slips_and_transpositions_are_found() {
        let subs = ["run", "wrap", "shell", "why", "learn", "setup", "profile"];
        assert_eq!(closest("rn", subs), Some("run"));
        assert_eq!(closest("wrp", subs), Some("wrap"));
        assert_eq!(closest("leran", subs), Some("learn"));
        assert_eq!(
            closest("pyhton", ["default", "python", "rust", "node"]),
            Some("python")
        );
        assert_eq!(closest("zzzzzz", subs), None);
        assert_eq!(closest("x", subs), None);
    }
}
