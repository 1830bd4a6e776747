//! RangeSet: a set of numeric indexes with zero padding, like ClusterShell's `RangeSet`.
//!
//! `01-03,7,10-20/5` holds `01 02 03 7 10 15 20`. Padding is part of an index: `08` and `8`
//! are different nodes (`node08`, `node8`), while `10` from `08-10` is the same as `10`.
//! Each index keeps its text width; an index is *padded* when that width is larger than
//! its digit count. Folding joins consecutive values of the same padding class.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// Most digits an index may have (fits in `u64` with room to step).
pub const MAX_DIGITS: usize = 18;

/// Most indexes one range may expand to, against `[1-999999999999]` typos.
pub const MAX_RANGE_LEN: u64 = 10_000_000;

/// One index: its value and the width of its text (`08` is value 8, width 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Index {
    /// Numeric value.
    pub value: u64,
    /// Text width, at least the number of digits of `value`.
    pub width: u8,
}

fn digits(value: u64) -> u8 {
    let mut n = 1;
    let mut v = value / 10;
    while v > 0 {
        n += 1;
        v /= 10;
    }
    n
}

impl Index {
    /// Parses a decimal index, keeping its padding. `None` if not all digits or too long.
    pub fn parse(text: &str) -> Option<Index> {
        if text.is_empty() || text.len() > MAX_DIGITS || !text.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Some(Index {
            value: text.parse().ok()?,
            width: text.len() as u8,
        })
    }

    /// Whether the index has leading zeros.
    pub fn is_padded(&self) -> bool {
        self.width > digits(self.value)
    }

    /// The folding class: padded indexes fold with the same width, unpadded with unpadded.
    fn class(&self) -> u8 {
        if self.is_padded() { self.width } else { 0 }
    }

    /// Whether `next` continues a run that `self` ends.
    fn continues_with(&self, next: &Index) -> bool {
        next.value == self.value + 1
            && (self.class() == next.class()
                || (self.is_padded() && !next.is_padded() && next.width == self.width))
    }
}

impl fmt::Display for Index {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:0width$}", self.value, width = self.width as usize)
    }
}

/// A parse error inside a range, with the byte offset of the bad part within the range text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangeError {
    /// Byte offset of the bad part in the range text.
    pub offset: usize,
    /// The bad part.
    pub part: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

/// A set of indexes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RangeSet {
    indexes: BTreeSet<Index>,
}

impl RangeSet {
    /// An empty set.
    pub fn new() -> Self {
        RangeSet::default()
    }

    /// Parses `1-3,5,08-10,0-20/5`.
    pub fn parse(text: &str) -> Result<RangeSet, RangeError> {
        let mut set = RangeSet::new();
        let mut offset = 0;
        for part in text.split(',') {
            let bad = |reason| RangeError {
                offset,
                part: part.to_owned(),
                reason,
            };
            let trimmed = part.trim();
            let (span, step) = match trimmed.split_once('/') {
                Some((span, step)) => {
                    let step = step.parse::<u64>().ok().filter(|&s| s > 0);
                    (span, step.ok_or_else(|| bad("invalid step usage"))?)
                }
                None => (trimmed, 1),
            };
            let (first, last) = match span.split_once('-') {
                Some((a, b)) => (a, b),
                None => (span, span),
            };
            let first = Index::parse(first).ok_or_else(|| bad("not a number or range"))?;
            let last_index = Index::parse(last).ok_or_else(|| bad("not a number or range"))?;
            if last_index.value < first.value {
                return Err(bad("range end is smaller than its start"));
            }
            if (last_index.value - first.value) / step >= MAX_RANGE_LEN {
                return Err(bad("range too large"));
            }
            // `08-10`: the start's padding applies to the whole range; `8-10` has none.
            let width = if first.is_padded() { first.width } else { 0 };
            let mut value = first.value;
            while value <= last_index.value {
                set.insert(Index {
                    value,
                    width: width.max(digits(value)),
                });
                value += step;
            }
            offset += part.len() + 1;
        }
        Ok(set)
    }

    /// Adds an index.
    pub fn insert(&mut self, index: Index) {
        self.indexes.insert(index);
    }

    /// Number of indexes.
    pub fn len(&self) -> usize {
        self.indexes.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.indexes.is_empty()
    }

    /// The indexes in order.
    pub fn iter(&self) -> impl Iterator<Item = &Index> {
        self.indexes.iter()
    }

    /// Adds every index of `other` (union).
    pub fn update(&mut self, other: &RangeSet) {
        self.indexes.extend(other.indexes.iter().copied());
    }

    /// Removes every index of `other`.
    pub fn difference_update(&mut self, other: &RangeSet) {
        self.indexes.retain(|index| !other.indexes.contains(index));
    }

    /// Keeps only indexes also in `other`.
    pub fn intersection_update(&mut self, other: &RangeSet) {
        self.indexes.retain(|index| other.indexes.contains(index));
    }

    /// Keeps indexes in exactly one of the two sets.
    pub fn symmetric_difference_update(&mut self, other: &RangeSet) {
        let both: BTreeSet<Index> = self.indexes.intersection(&other.indexes).copied().collect();
        self.update(other);
        self.indexes.retain(|index| !both.contains(index));
    }

    /// Folded text with ClusterShell's `--autostep`: a run of at least `threshold`
    /// indexes with one step above 1 is written `first-last/step` (`1-9/2`); other
    /// indexes fold as [`fold`](Self::fold) does. `None` is `fold`.
    pub fn fold_with_autostep(&self, threshold: Option<usize>) -> String {
        let Some(threshold) = threshold.filter(|&t| t >= 2) else {
            return self.fold();
        };
        // Per padding class, greedily take the longest arithmetic run from each index.
        let mut classes: BTreeMap<u8, Vec<Index>> = BTreeMap::new();
        for index in &self.indexes {
            classes.entry(index.class()).or_default().push(*index);
        }
        let mut parts: Vec<(Index, String)> = Vec::new();
        for indexes in classes.values() {
            let mut singles = RangeSet::new();
            let mut at = 0;
            while let Some(first) = indexes.get(at) {
                let Some(second) = indexes.get(at + 1) else {
                    singles.insert(*first);
                    break;
                };
                let step = second.value - first.value;
                let mut end = at + 1;
                while indexes
                    .get(end + 1)
                    .zip(indexes.get(end))
                    .is_some_and(|(next, last)| next.value - last.value == step)
                {
                    end += 1;
                }
                let length = end - at + 1;
                if step > 1 && length >= threshold {
                    let last = indexes.get(end).copied().unwrap_or(*first);
                    let width = if first.is_padded() {
                        first.width as usize
                    } else {
                        0
                    };
                    parts.push((*first, format!("{first}-{:0width$}/{step}", last.value)));
                    at = end + 1;
                } else {
                    singles.insert(*first);
                    at += 1;
                }
            }
            // Contiguous runs among the rest, as `fold` writes them, each in its place.
            for piece in singles.fold().split(',').filter(|p| !p.is_empty()) {
                let first = piece.split('-').next().and_then(Index::parse);
                parts.extend(first.map(|first| (first, piece.to_owned())));
            }
        }
        parts.sort_by_key(|(first, _)| first.value);
        parts
            .into_iter()
            .map(|(_, text)| text)
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Folded text: `01-03,7,10`.
    pub fn fold(&self) -> String {
        // Runs per padding class, then all runs ordered by their first index.
        let mut runs: Vec<(Index, Index)> = Vec::new();
        // Open run per class: 0 for unpadded indexes, the width for padded ones.
        let mut open: std::collections::HashMap<u8, usize> = std::collections::HashMap::new();
        for index in &self.indexes {
            let class = index.class();
            let continues = |key: u8| {
                open.get(&key).copied().filter(|&run| {
                    runs.get(run)
                        .is_some_and(|(_, end)| end.continues_with(index))
                })
            };
            // Same class first; else a padded run reaching an unpadded value of its width
            // (`08-10`: 10 needs no padding but continues the run).
            let run = continues(class).or_else(|| continues(index.width).filter(|_| class == 0));
            match run {
                Some(run) => {
                    if let Some((_, end)) = runs.get_mut(run) {
                        *end = *index;
                    }
                    open.insert(class, run);
                }
                None => {
                    open.insert(class, runs.len());
                    runs.push((*index, *index));
                }
            }
        }
        let parts: Vec<String> = runs
            .iter()
            .map(|(start, end)| {
                if start == end {
                    start.to_string()
                } else {
                    let width = if start.is_padded() {
                        start.width as usize
                    } else {
                        0
                    };
                    format!("{start}-{:0width$}", end.value)
                }
            })
            .collect();
        parts.join(",")
    }
}

impl fmt::Display for RangeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.fold())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(set: &RangeSet) -> Vec<String> {
        set.iter().map(Index::to_string).collect()
    }

    /// ClusterShell's `--autostep`: runs with a step above 1 and at least the threshold
    /// of indexes are written with `/step`; set operations on range sets.
    #[test]
    fn autostep_folding_and_set_operations() {
        let set = RangeSet::parse("1,3,5,7,9,10,11,12,20").unwrap();
        assert_eq!(set.fold_with_autostep(None), set.fold());
        assert_eq!(set.fold_with_autostep(Some(3)), "1-9/2,10-12,20");
        assert_eq!(set.fold_with_autostep(Some(6)), "1,3,5,7,9-12,20");
        let padded = RangeSet::parse("01-09/4").unwrap();
        assert_eq!(padded.fold_with_autostep(Some(3)), "01-09/4");
        assert_eq!(padded.fold(), "01,05,09");
        let mut a = RangeSet::parse("1-10").unwrap();
        a.difference_update(&RangeSet::parse("3-4").unwrap());
        assert_eq!(a.fold(), "1-2,5-10");
        a.intersection_update(&RangeSet::parse("2-6").unwrap());
        assert_eq!(a.fold(), "2,5-6");
        a.symmetric_difference_update(&RangeSet::parse("6-7").unwrap());
        assert_eq!(a.fold(), "2,5,7");
        a.update(&RangeSet::parse("3-4").unwrap());
        assert_eq!(a.fold(), "2-5,7");
    }

    #[test]
    fn parses_lists_ranges_padding_and_steps() {
        let set = RangeSet::parse("01-03,7,10-20/5,08-10").unwrap();
        assert_eq!(
            texts(&set),
            ["01", "02", "03", "7", "08", "09", "10", "15", "20"]
        );
        assert_eq!(set.fold(), "01-03,7,08-10,15,20");
    }

    #[test]
    fn padded_and_unpadded_are_different_indexes() {
        let set = RangeSet::parse("8,08,9-10").unwrap();
        assert_eq!(set.len(), 4);
        assert_eq!(set.fold(), "8-10,08");
    }

    #[test]
    fn fold_round_trips() {
        for text in [
            "1-5",
            "001-100",
            "1,3,5-7",
            "0-9,010-011",
            "7",
            "99-101",
            "098-101",
        ] {
            let set = RangeSet::parse(text).unwrap();
            assert_eq!(
                RangeSet::parse(&set.fold()).unwrap(),
                set,
                "{text} -> {}",
                set.fold()
            );
        }
        assert_eq!(RangeSet::parse("098-101").unwrap().fold(), "098-101");
    }

    #[test]
    fn errors_name_the_bad_part() {
        let err = RangeSet::parse("1-3,x,5").unwrap_err();
        assert_eq!((err.offset, err.part.as_str()), (4, "x"));
        assert_eq!(
            RangeSet::parse("5-1").unwrap_err().reason,
            "range end is smaller than its start"
        );
        assert_eq!(
            RangeSet::parse("1-9/0").unwrap_err().reason,
            "invalid step usage"
        );
        assert_eq!(
            RangeSet::parse("1-").unwrap_err().reason,
            "not a number or range"
        );
        assert_eq!(
            RangeSet::parse("0-99999999999").unwrap_err().reason,
            "range too large"
        );
    }
}
