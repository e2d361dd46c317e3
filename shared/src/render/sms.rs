//! SMS encoding and segment counting.
//!
//! A message that only uses the GSM 03.38 basic character set and its extension table is sent
//! as GSM-7: 160 septets in a single message, 153 per segment once it is split (the rest of
//! each segment holds the concatenation header). Extension characters (`^ { } \ [ ~ ] | €` and
//! form feed) take two septets and are never split across segments. Any other character makes
//! the whole message UCS-2: 70 UTF-16 code units in a single message, 67 per segment, and a
//! surrogate pair (an emoji, for instance) is never split across segments.

/// The GSM 03.38 basic character set (the escape code 0x1B excluded).
const GSM7_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?\
¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";

/// The GSM 03.38 extension table: each costs two septets (escape + code).
const GSM7_EXTENSION: &str = "\u{000C}^{}\\[~]|€";

/// Septets of each ASCII character (0: not in GSM-7), from the two tables above: most texts
/// are ASCII, and a lookup is much cheaper than a scan of the tables.
const GSM7_ASCII: [u8; 128] = {
    let mut table = [0u8; 128];
    let (basic, extension) = (GSM7_BASIC.as_bytes(), GSM7_EXTENSION.as_bytes());
    let mut i = 0;
    while i < basic.len() {
        if basic[i] < 128 {
            table[basic[i] as usize] = 1;
        }
        i += 1;
    }
    let mut i = 0;
    while i < extension.len() {
        if extension[i] < 128 {
            table[extension[i] as usize] = 2;
        }
        i += 1;
    }
    table
};

pub const GSM7: &str = "GSM-7";
pub const UCS2: &str = "UCS-2";

/// How a text is encoded and how many segments it takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentInfo {
    /// [`GSM7`] or [`UCS2`].
    pub encoding: &'static str,
    /// Unicode characters (scalar values).
    pub characters: usize,
    /// Septets for GSM-7, UTF-16 code units for UCS-2.
    pub units: usize,
    /// Segments the message is sent as (0 for an empty text).
    pub segments: usize,
}

fn gsm7_septets(c: char) -> Option<usize> {
    if c.is_ascii() {
        return match GSM7_ASCII[c as usize] {
            0 => None,
            n => Some(usize::from(n)),
        };
    }
    if GSM7_BASIC.contains(c) {
        Some(1)
    } else if GSM7_EXTENSION.contains(c) {
        Some(2)
    } else {
        None
    }
}

/// Counts segments by filling each one greedily without splitting a character.
fn count_segments(costs: impl Iterator<Item = usize>, per_segment: usize) -> usize {
    let mut segments = 1;
    let mut used = 0;
    for cost in costs {
        if used + cost > per_segment {
            segments += 1;
            used = cost;
        } else {
            used += cost;
        }
    }
    segments
}

/// The encoding and segment count of an SMS text.
pub fn segment_info(text: &str) -> SegmentInfo {
    let characters = text.chars().count();
    let gsm: Option<Vec<usize>> = text.chars().map(gsm7_septets).collect();
    let (encoding, costs, single, multi) = match gsm {
        Some(costs) => (GSM7, costs, 160, 153),
        None => (
            UCS2,
            text.chars().map(char::len_utf16).collect::<Vec<_>>(),
            70,
            67,
        ),
    };
    let units: usize = costs.iter().sum();
    let segments = if units == 0 {
        0
    } else if units <= single {
        1
    } else {
        count_segments(costs.into_iter(), multi)
    };
    SegmentInfo {
        encoding,
        characters,
        units,
        segments,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_ascii_table_agrees_with_the_character_tables() {
        for b in 0u8..128 {
            let c = char::from(b);
            let scanned = if super::GSM7_BASIC.contains(c) {
                1
            } else if super::GSM7_EXTENSION.contains(c) {
                2
            } else {
                0
            };
            assert_eq!(super::GSM7_ASCII[b as usize], scanned, "{c:?}");
        }
        assert_eq!(super::GSM7_ASCII[b'A' as usize], 1);
        assert_eq!(super::GSM7_ASCII[b'{' as usize], 2);
        assert_eq!(super::GSM7_ASCII[b'`' as usize], 0);
    }

    use super::*;

    #[test]
    fn plain_ascii_is_gsm7_and_fits_160_septets_in_one_segment() {
        let t = "a".repeat(160);
        let i = segment_info(&t);
        assert_eq!((i.encoding, i.units, i.segments), (GSM7, 160, 1));
        let i = segment_info(&"a".repeat(161));
        assert_eq!(i.segments, 2);
        assert_eq!(segment_info(&"a".repeat(306)).segments, 2);
        assert_eq!(segment_info(&"a".repeat(307)).segments, 3);
    }

    #[test]
    fn accented_letters_of_the_basic_table_stay_gsm7() {
        let i = segment_info("Café à Zürich: ¿qué? ¡olé! £5 ¥ §");
        assert_eq!(i.encoding, GSM7);
        // "ç" and "í" are not in the basic table (only "Ç" and "ì" are): they force UCS-2.
        assert_eq!(segment_info("façade").encoding, UCS2);
        assert_eq!(segment_info("sí").encoding, UCS2);
    }

    #[test]
    fn extension_characters_count_two_septets() {
        let i = segment_info("€[]");
        assert_eq!((i.encoding, i.characters, i.units), (GSM7, 3, 6));
        // 80 euro signs are 160 septets: still a single message.
        assert_eq!(segment_info(&"€".repeat(80)).segments, 1);
        assert_eq!(segment_info(&"€".repeat(81)).segments, 2);
    }

    #[test]
    fn an_extension_character_is_not_split_across_segments() {
        // 152 + 2 = 154 septets: one message.
        assert_eq!(segment_info(&format!("{}€", "a".repeat(152))).segments, 1);
        // 159 + 2 = 161 septets: 153 "a" fill segment 1, 6 "a" and the euro go to segment 2.
        assert_eq!(segment_info(&format!("{}€", "a".repeat(159))).segments, 2);
        // 152 "a" + "€" + 152 "a" = 306 septets = 2 × 153, but the euro cannot take septets
        // 153-154 of segment 1: segment 2 holds "€" + 151 "a" and the last "a" spills over.
        let t = format!("{}€{}", "a".repeat(152), "a".repeat(152));
        assert_eq!(segment_info(&t).units, 306);
        assert_eq!(segment_info(&t).segments, 3);
    }

    #[test]
    fn any_other_character_makes_the_message_ucs2() {
        let i = segment_info("Привет");
        assert_eq!((i.encoding, i.units, i.segments), (UCS2, 6, 1));
        assert_eq!(segment_info(&"ж".repeat(70)).segments, 1);
        assert_eq!(segment_info(&"ж".repeat(71)).segments, 2);
        assert_eq!(segment_info(&"ж".repeat(134)).segments, 2);
        assert_eq!(segment_info(&"ж".repeat(135)).segments, 3);
    }

    #[test]
    fn an_emoji_counts_two_units_and_is_not_split_at_a_segment_boundary() {
        let i = segment_info("hi 👋");
        assert_eq!((i.encoding, i.characters, i.units), (UCS2, 4, 5));
        // 69 units + one emoji = 71 units: two segments.
        assert_eq!(segment_info(&format!("{}👋", "a".repeat(69))).segments, 2);
        // 68 + emoji = 70 units: one message.
        assert_eq!(segment_info(&format!("{}👋", "a".repeat(68))).segments, 1);
        // 66 "a" + emoji + 66 "a" = 134 units = 2 × 67, but the emoji would straddle units
        // 67-68, so it moves to segment 2 and the last "a" spills into segment 3.
        let t = format!("{}👋{}", "a".repeat(66), "a".repeat(66));
        assert_eq!(segment_info(&t).units, 134);
        assert_eq!(segment_info(&t).segments, 3);
    }

    #[test]
    fn an_empty_text_has_no_segment() {
        assert_eq!(segment_info("").segments, 0);
    }
}
