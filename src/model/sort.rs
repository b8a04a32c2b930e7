//! Stable sorting compiled once for the browser's module. `slice::sort_by` compiles a whole
//! sort (several KB of WASM) for every element type and comparison it is given; here the sort
//! itself runs over indices, the same code for every caller, and only the comparison and a
//! short loop that puts the elements in their places are compiled per type (BENCHMARKS.md,
//! "Client bundle"). For the short lists the pages sort (lines, spans, labels, buckets); the
//! server's hot paths keep `slice::sort_by`.

use std::cmp::Ordering;

/// Sorts `items` by `compare`, keeping equal elements in their order.
pub fn sort_by<T>(items: &mut [T], compare: impl Fn(&T, &T) -> Ordering) {
    let order = sorted_order(items.len(), &|a, b| compare(&items[a], &items[b]));
    put_in_order(items, order);
}

/// Sorts `items` by the key `key` gives, keeping equal elements in their order.
pub fn sort_by_key<T, K: Ord>(items: &mut [T], key: impl Fn(&T) -> K) {
    sort_by(items, |a, b| key(a).cmp(&key(b)));
}

/// The indices `0..len`, ordered by `compare` (stable).
fn sorted_order(len: usize, compare: &dyn Fn(usize, usize) -> Ordering) -> Vec<usize> {
    let mut order: Vec<usize> = (0..len).collect();
    order.sort_by(|a, b| compare(*a, *b));
    order
}

/// Moves the element at `order[i]` to `i`, for every `i`, by following each cycle of the
/// permutation with swaps (a visited place is marked by pointing at itself).
fn put_in_order<T>(items: &mut [T], mut order: Vec<usize>) {
    for start in 0..items.len() {
        let mut place = start;
        while order[place] != start && order[place] != place {
            let from = order[place];
            items.swap(place, from);
            order[place] = place;
            place = from;
        }
        order[place] = place;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn equal_keys_keep_their_order() {
        let mut pairs = vec![(2, 'a'), (1, 'b'), (2, 'c'), (1, 'd'), (0, 'e')];
        sort_by_key(&mut pairs, |pair| pair.0);
        assert_eq!(pairs, vec![(0, 'e'), (1, 'b'), (1, 'd'), (2, 'a'), (2, 'c')]);
    }

    proptest! {
        #[test]
        fn sorts_as_the_standard_library_does(items in prop::collection::vec((0u8..6, any::<u16>()), 0..64)) {
            let mut expected = items.clone();
            expected.sort_by_key(|item| item.0);
            let mut sorted = items;
            sort_by_key(&mut sorted, |item| item.0);
            prop_assert_eq!(sorted, expected);
        }
    }
}
