//! The JSON error locator: which field (`filesystem.read[2]`) a parse error's line and
//! column fall in.

/// The dotted path (`filesystem.read[2]`) of the value at 1-based `line`/`column` of a JSON
/// text, found by scanning the text up to there. Used to name the field in parse errors
/// (serde_json reports where, not which field, for type errors).
pub(super) fn json_path_at(text: &str, line: usize, column: usize) -> String {
    enum Frame {
        Obj { key: Option<String>, want_key: bool },
        Arr { index: usize },
    }
    let line_start: usize = text
        .split_inclusive('\n')
        .take(line.saturating_sub(1))
        .map(str::len)
        .sum();
    let end = (line_start + column).min(text.len());
    let bytes = text.as_bytes();
    let mut stack: Vec<Frame> = Vec::new();
    let mut i = 0;
    while i < end {
        match bytes[i] {
            b'{' => stack.push(Frame::Obj {
                key: None,
                want_key: true,
            }),
            b'[' => stack.push(Frame::Arr { index: 0 }),
            b'}' | b']' => {
                stack.pop();
            }
            b',' => match stack.last_mut() {
                Some(Frame::Obj { key, want_key }) => {
                    *key = None;
                    *want_key = true;
                }
                Some(Frame::Arr { index }) => *index += 1,
                None => {}
            },
            b':' => {
                if let Some(Frame::Obj { want_key, .. }) = stack.last_mut() {
                    *want_key = false;
                }
            }
            b'"' => {
                let start = i + 1;
                let mut j = start;
                while j < bytes.len() && bytes[j] != b'"' {
                    j += if bytes[j] == b'\\' { 2 } else { 1 };
                }
                let s = text.get(start..j.min(text.len())).unwrap_or_default();
                if let Some(Frame::Obj {
                    key,
                    want_key: true,
                }) = stack.last_mut()
                {
                    *key = Some(s.to_owned());
                }
                i = j;
            }
            _ => {}
        }
        i += 1;
    }
    let mut out = String::new();
    for f in &stack {
        match f {
            Frame::Obj { key: Some(k), .. } => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            Frame::Obj { key: None, .. } => {}
            Frame::Arr { index } => out.push_str(&format!("[{index}]")),
        }
    }
    if out.is_empty() {
        "(top level)".to_owned()
    } else {
        out
    }
}
