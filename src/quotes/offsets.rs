//! Offset units. Spans inside the crate and in `../shared/data` are Unicode code points,
//! end-exclusive; API callers may want UTF-8 bytes (Rust, Go, C) or UTF-16 code units
//! (JavaScript, Java, C#), as Google's NL API offers with `encodingType`.

use serde::{Deserialize, Serialize};

/// The unit a caller wants offsets in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OffsetUnit {
    /// Byte offsets into the UTF-8 encoding.
    Utf8Bytes,
    /// Offsets in UTF-16 code units (characters outside the BMP count two).
    Utf16Units,
    /// Unicode scalar values: the unit used throughout this crate.
    #[default]
    CodePoints,
}

/// Converts one code-point offset into `unit` for `text`. Offsets past the end are clamped
/// to the end of the text, so a bad span never panics.
pub fn convert_offset(text: &str, code_point: usize, unit: OffsetUnit) -> usize {
    convert_offsets(text, &[[code_point, code_point]], unit)[0][0]
}

/// Converts `[start, end)` code-point spans of `text` into `unit`, in one pass over the
/// text whatever the number of spans. Offsets past the end are clamped.
pub fn convert_offsets(text: &str, spans: &[[usize; 2]], unit: OffsetUnit) -> Vec<[usize; 2]> {
    if unit == OffsetUnit::CodePoints {
        let n = text.chars().count();
        return spans.iter().map(|s| [s[0].min(n), s[1].min(n)]).collect();
    }
    // Prefix table: position (in `unit`) of every code point, plus the end.
    let mut table = Vec::with_capacity(text.len() + 1);
    let mut pos = 0usize;
    for c in text.chars() {
        table.push(pos);
        pos += match unit {
            OffsetUnit::Utf8Bytes => c.len_utf8(),
            OffsetUnit::Utf16Units => c.len_utf16(),
            OffsetUnit::CodePoints => 1,
        };
    }
    table.push(pos);
    let last = table.len() - 1;
    spans.iter().map(|s| [table[s[0].min(last)], table[s[1].min(last)]]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_to_bytes_and_utf16() {
        let t = "a“é”😀b";
        // code points: a=0 “=1 é=2 ”=3 😀=4 b=5
        let spans = [[1, 4], [4, 6]];
        assert_eq!(convert_offsets(t, &spans, OffsetUnit::Utf8Bytes), vec![[1, 9], [9, 14]]);
        assert_eq!(convert_offsets(t, &spans, OffsetUnit::Utf16Units), vec![[1, 4], [4, 7]]);
        assert_eq!(convert_offsets(t, &spans, OffsetUnit::CodePoints), spans);
        assert_eq!(convert_offset(t, 99, OffsetUnit::Utf8Bytes), t.len());
        let bytes = convert_offsets(t, &[[2, 3]], OffsetUnit::Utf8Bytes)[0];
        assert_eq!(&t[bytes[0]..bytes[1]], "é");
    }
}
