//! A fixed-capacity ring buffer: pushing past capacity overwrites the oldest item, so memory
//! stays constant however long a dashboard runs.

use std::collections::VecDeque;

#[derive(Clone, Debug)]
pub struct Ring<T> {
    items: VecDeque<T>,
    capacity: usize,
}

impl<T> Ring<T> {
    /// A ring holding at most `capacity` items (at least one).
    pub fn with_capacity(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Ring { items: VecDeque::with_capacity(capacity), capacity }
    }

    /// Appends `item`, returning the oldest one when it had to make room.
    pub fn push(&mut self, item: T) -> Option<T> {
        let evicted = if self.items.len() == self.capacity { self.items.pop_front() } else { None };
        self.items.push_back(item);
        evicted
    }

    /// Inserts `item` where `key` puts it, the ring being sorted by `key`: appended when it is
    /// the newest (the usual case), else moved back past newer items. When full, the oldest
    /// item makes room; an item older than every item of a full ring is not kept. Returns the
    /// item that is not kept, if any.
    pub fn insert_by_key<K: Ord>(&mut self, item: T, key: impl Fn(&T) -> K) -> Option<T> {
        let item_key = key(&item);
        if self.items.back().is_none_or(|last| key(last) <= item_key) {
            return self.push(item);
        }
        let mut position = self.items.partition_point(|held| key(held) <= item_key);
        let mut evicted = None;
        if self.items.len() == self.capacity {
            if position == 0 {
                return Some(item);
            }
            evicted = self.items.pop_front();
            position -= 1;
        }
        self.items.insert(position, item);
        evicted
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Unused by livedash itself; a public `len` without it is a surprise (clippy's
    /// `len_without_is_empty`).
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn first(&self) -> Option<&T> {
        self.items.front()
    }

    pub fn last(&self) -> Option<&T> {
        self.items.back()
    }

    pub fn get(&self, index: usize) -> Option<&T> {
        self.items.get(index)
    }

    /// Oldest first.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &T> + ExactSizeIterator {
        self.items.iter()
    }

    /// Index of the first item for which `is_before` is false, given that it is true on a prefix.
    pub fn partition_point(&self, is_before: impl FnMut(&T) -> bool) -> usize {
        self.items.partition_point(is_before)
    }

    /// Items from `index` on, oldest first.
    pub fn iter_from(&self, index: usize) -> impl Iterator<Item = &T> {
        self.items.range(index.min(self.items.len())..)
    }

    /// Items `start..end` (clamped to the ring), oldest first: an exact-size iterator, so that
    /// collecting it allocates once.
    pub fn iter_range(&self, (start, end): (usize, usize)) -> impl ExactSizeIterator<Item = &T> {
        let end = end.min(self.items.len());
        self.items.range(start.min(end)..end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_newest_items_up_to_capacity() {
        let mut ring = Ring::with_capacity(3);
        assert_eq!(ring.push(1), None);
        assert_eq!(ring.push(2), None);
        assert_eq!(ring.push(3), None);
        assert_eq!(ring.push(4), Some(1));
        assert_eq!(ring.iter().copied().collect::<Vec<_>>(), vec![2, 3, 4]);
        assert_eq!(ring.len(), 3);
        assert_eq!(ring.first(), Some(&2));
        assert_eq!(ring.last(), Some(&4));
    }

    #[test]
    fn zero_capacity_still_holds_one() {
        let mut ring = Ring::with_capacity(0);
        ring.push('a');
        ring.push('b');
        assert_eq!(ring.iter().collect::<Vec<_>>(), vec![&'b']);
    }

    #[test]
    fn finds_suffixes_by_key() {
        let mut ring = Ring::with_capacity(4);
        for seq in 10..16 {
            ring.push(seq);
        }
        let start = ring.partition_point(|seq| *seq <= 13);
        assert_eq!(ring.iter_from(start).copied().collect::<Vec<_>>(), vec![14, 15]);
        assert_eq!(ring.iter_from(99).count(), 0);
        let end = ring.partition_point(|seq| *seq <= 14);
        assert_eq!(ring.iter_range((1, end)).copied().collect::<Vec<_>>(), vec![13, 14]);
        assert_eq!(ring.iter_range((3, 1)).count(), 0, "an empty range, not a panic");
        assert_eq!(ring.iter_range((2, 99)).len(), 2, "clamped to the ring");
    }

    #[test]
    fn late_items_go_where_their_key_puts_them() {
        let mut ring = Ring::with_capacity(4);
        for ts in [10, 20, 40] {
            ring.insert_by_key(ts, |t| *t);
        }
        assert_eq!(ring.insert_by_key(30, |t| *t), None);
        assert_eq!(ring.iter().copied().collect::<Vec<_>>(), vec![10, 20, 30, 40]);
        assert_eq!(ring.insert_by_key(25, |t| *t), Some(10), "full: the oldest makes room");
        assert_eq!(ring.iter().copied().collect::<Vec<_>>(), vec![20, 25, 30, 40]);
        assert_eq!(ring.insert_by_key(5, |t| *t), Some(5), "older than all of a full ring");
        assert_eq!(ring.insert_by_key(50, |t| *t), Some(20));
        assert_eq!(ring.iter().copied().collect::<Vec<_>>(), vec![25, 30, 40, 50]);
    }
}
