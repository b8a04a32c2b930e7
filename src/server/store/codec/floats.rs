//! Lossless compression of a short run of `f64`s (a metric's values over one minute), as the
//! per-second tier stores them. Three encodings are tried and the shortest kept:
//!
//! - **decimal**: when every value is an integer scaled by `10^-k` (k <= 9, as most metrics are
//!   written: counts, percentages with two decimals, money), the scaled integers as zigzag
//!   varints of their delta-of-delta (a steady rate costs one byte a value, a constant too),
//!   or their deltas or deltas-of-deltas packed at the run's widest bit width (a random walk
//!   of a few hundredths costs a byte or less);
//! - **xor** (Facebook's Gorilla): each value XORed with the one before, its meaningful bits
//!   written after their leading-zero count and length, or one bit for a repeat;
//! - **delta-xor**: the same over the differences between values, when adding each difference
//!   back gives the value exactly (a counter's steady step costs one bit a value).
//!
//! Every encoding gives each value back bit for bit (negative zero, subnormals, NaN payloads
//! of the xor forms, integers past 2^53), checked when encoding.

/// The first byte of a run: which encoding follows.
const DECIMAL: u8 = 0;
const XOR: u8 = 1;
const DELTA_XOR: u8 = 2;
const DECIMAL_PACKED: u8 = 3;

use super::bytes::{put_varint, unzigzag, zigzag, Reader};

/// Powers of ten exactly representable as `f64`.
const POW10: [f64; 10] = [1.0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9];

/// Appends `values` compressed to `bytes`; `decode` with the same count reads them back.
pub fn encode(values: &[f64], bytes: &mut Vec<u8>) {
    let mut best = xor_encode(values);
    for candidate in [decimal_encode(values), delta_xor_encode(values)].into_iter().flatten() {
        if candidate.len() < best.len() {
            best = candidate;
        }
    }
    bytes.extend_from_slice(&best);
}

/// Fills `values` with as many values written by `encode` (a minute holds at most 60: the
/// caller's buffer is on its stack, nothing is allocated).
pub fn decode(reader: &mut Reader<'_>, values: &mut [f64]) -> Result<(), usize> {
    let at = reader.at;
    match reader.byte()? {
        DECIMAL => {
            let scale = *POW10.get(reader.byte()? as usize).ok_or(at)?;
            let (mut previous, mut delta) = (0i64, 0i64);
            for (index, value) in values.iter_mut().enumerate() {
                let coded = unzigzag(reader.varint()?);
                let current = if index == 0 {
                    coded
                } else {
                    delta = delta.wrapping_add(coded);
                    previous.wrapping_add(delta)
                };
                *value = current as f64 / scale;
                previous = current;
            }
            Ok(())
        }
        DECIMAL_PACKED => {
            let scale = *POW10.get(reader.byte()? as usize).ok_or(at)?;
            let first = unzigzag(reader.varint()?);
            let of_deltas = reader.byte()? == 1;
            let width = u32::from(reader.byte()?);
            if width > 64 {
                return Err(at);
            }
            let mut bits = BitReader::new(reader);
            let (mut current, mut delta) = (first, 0i64);
            for (index, value) in values.iter_mut().enumerate() {
                if index > 0 {
                    let coded = unzigzag(bits.take(width));
                    delta = if of_deltas { delta.wrapping_add(coded) } else { coded };
                    current = current.wrapping_add(delta);
                }
                *value = current as f64 / scale;
            }
            bits.finish(reader)
        }
        XOR => {
            let mut bits = BitReader::new(reader);
            bits.xor_words(values).map_err(|()| at)?;
            bits.finish(reader)
        }
        DELTA_XOR => {
            let Some((first, rest)) = values.split_first_mut() else {
                return Err(at);
            };
            *first = f64::from_le_bytes(reader.take(8)?.try_into().expect("eight bytes"));
            let mut bits = BitReader::new(reader);
            bits.xor_words(rest).map_err(|()| at)?;
            let mut previous = *first;
            for value in rest {
                *value += previous;
                previous = *value;
            }
            bits.finish(reader)
        }
        _ => Err(at),
    }
}

/// The scale `10^k` that makes every value an integer of at most 53 bits, exactly, and the
/// shortest of the decimal encodings of those integers.
fn decimal_encode(values: &[f64]) -> Option<Vec<u8>> {
    let k = (0..POW10.len()).find(|&k| values.iter().all(|&value| scaled(value, POW10[k]).is_some()))?;
    let integers: Vec<i64> = values.iter().map(|&value| scaled(value, POW10[k])).collect::<Option<_>>()?;
    let (&first, _) = integers.split_first()?;
    let deltas: Vec<i64> = integers.windows(2).map(|pair| pair[1].wrapping_sub(pair[0])).collect();
    let second_deltas: Vec<i64> =
        deltas.iter().scan(0i64, |before, &delta| Some(delta.wrapping_sub(std::mem::replace(before, delta)))).collect();
    let mut varints = vec![DECIMAL, k as u8];
    put_varint(&mut varints, zigzag(first));
    for &second_delta in &second_deltas {
        put_varint(&mut varints, zigzag(second_delta));
    }
    let packed = |coded: &[i64], of_deltas: bool| {
        let width = coded.iter().map(|value| 64 - zigzag(*value).leading_zeros()).max().unwrap_or(0);
        let mut bytes = vec![DECIMAL_PACKED, k as u8];
        put_varint(&mut bytes, zigzag(first));
        bytes.extend_from_slice(&[u8::from(of_deltas), width as u8]);
        let mut bits = BitWriter::default();
        for value in coded {
            bits.push(zigzag(*value), width);
        }
        bytes.extend_from_slice(&bits.finish());
        bytes
    };
    [varints, packed(&deltas, false), packed(&second_deltas, true)].into_iter().min_by_key(Vec::len)
}

/// `value * scale` as an integer, if dividing it by `scale` gives `value` back bit for bit.
fn scaled(value: f64, scale: f64) -> Option<i64> {
    let integer = (value * scale).round();
    if !integer.is_finite() || integer.abs() >= 9_007_199_254_740_992.0 {
        return None;
    }
    let integer = integer as i64;
    ((integer as f64 / scale).to_bits() == value.to_bits()).then_some(integer)
}

fn xor_encode(values: &[f64]) -> Vec<u8> {
    let mut bits = BitWriter::default();
    bits.xor_words(values.iter().map(|value| value.to_bits()));
    let mut bytes = vec![XOR];
    bytes.extend_from_slice(&bits.finish());
    bytes
}

/// Differences between values, if adding each back gives the next value exactly.
fn delta_xor_encode(values: &[f64]) -> Option<Vec<u8>> {
    let (first, rest) = values.split_first()?;
    let mut deltas = Vec::with_capacity(rest.len());
    let mut previous = *first;
    for &value in rest {
        let delta = value - previous;
        if (previous + delta).to_bits() != value.to_bits() {
            return None;
        }
        deltas.push(delta.to_bits());
        previous = value;
    }
    let mut bits = BitWriter::default();
    bits.xor_words(deltas.into_iter());
    let mut bytes = vec![DELTA_XOR];
    bytes.extend_from_slice(&first.to_le_bytes());
    bytes.extend_from_slice(&bits.finish());
    Some(bytes)
}

/// Bits, most significant first, into bytes.
#[derive(Default)]
struct BitWriter {
    bytes: Vec<u8>,
    /// Bits not yet in a whole byte (fewer than 8), in the low end.
    pending: u128,
    pending_bits: u32,
}

impl BitWriter {
    /// Appends the low `count` bits of `value` (count <= 64).
    fn push(&mut self, value: u64, count: u32) {
        if count == 0 {
            return;
        }
        let mask = if count == 64 { u64::MAX } else { (1u64 << count) - 1 };
        self.pending = (self.pending << count) | u128::from(value & mask);
        self.pending_bits += count;
        while self.pending_bits >= 8 {
            self.bytes.push((self.pending >> (self.pending_bits - 8)) as u8);
            self.pending_bits -= 8;
        }
        self.pending &= (1u128 << self.pending_bits) - 1;
    }

    /// Gorilla's value encoding: the first word whole, then each XOR with the one before as a
    /// `0` (equal), `10` + the meaningful bits inside the previous window, or `11` + 6 bits of
    /// leading zeros + 6 bits of length - 1 + the meaningful bits.
    fn xor_words(&mut self, words: impl Iterator<Item = u64>) {
        let mut previous: Option<u64> = None;
        let (mut leading, mut trailing) = (u32::MAX, 0u32);
        for word in words {
            let Some(before) = previous else {
                self.push(word, 64);
                previous = Some(word);
                continue;
            };
            let xor = word ^ before;
            if xor == 0 {
                self.push(0, 1);
            } else {
                let (lead, trail) = (xor.leading_zeros().min(63), xor.trailing_zeros());
                if leading != u32::MAX && lead >= leading && trail >= trailing {
                    self.push(0b10, 2);
                    self.push(xor >> trailing, 64 - leading - trailing);
                } else {
                    let length = 64 - lead - trail;
                    self.push(0b11, 2);
                    self.push(u64::from(lead), 6);
                    self.push(u64::from(length - 1), 6);
                    self.push(xor >> trail, length);
                    (leading, trailing) = (lead, trail);
                }
            }
            previous = Some(word);
        }
    }

    fn finish(mut self) -> Vec<u8> {
        if self.pending_bits > 0 {
            self.bytes.push((self.pending << (8 - self.pending_bits)) as u8);
        }
        self.bytes
    }
}

/// Reads what `BitWriter` wrote, from a `Reader`'s position: a bit position over the bytes,
/// and each read a load of the next nine bytes shifted into place (no buffer to refill). The
/// last bytes are also kept zero-padded, so reads near the end (every read of a short run)
/// load from there. Reading past the end gives zeros; `finish` refuses it.
struct BitReader<'a> {
    bytes: &'a [u8],
    /// Bits read so far.
    at: usize,
    /// `bytes[tail_from..]`, then zeros.
    tail: [u8; 24],
    tail_from: usize,
}

impl<'a> BitReader<'a> {
    fn new(reader: &Reader<'a>) -> Self {
        let bytes: &'a [u8] = reader.bytes;
        let bytes = &bytes[reader.at.min(bytes.len())..];
        let tail_from = bytes.len().saturating_sub(8);
        let mut tail = [0; 24];
        tail[..bytes.len() - tail_from].copy_from_slice(&bytes[tail_from..]);
        BitReader { bytes, at: 0, tail, tail_from }
    }

    /// The next 64 bits, most significant first, without consuming them.
    #[inline(always)]
    fn window(&self) -> u64 {
        let (byte, shift) = (self.at / 8, (self.at % 8) as u32);
        let nine = match self.bytes.get(byte..byte + 9) {
            Some(nine) => nine,
            None => {
                self.tail.get(byte.saturating_sub(self.tail_from)..).and_then(|rest| rest.get(..9)).unwrap_or(&[0; 9])
            }
        };
        let word = u64::from_be_bytes(nine[..8].try_into().expect("eight bytes"));
        (word << shift) | (u64::from(nine[8]) >> (8 - shift))
    }

    /// The next `count` bits (count <= 64).
    #[inline(always)]
    fn take(&mut self, count: u32) -> u64 {
        let value = self.window().checked_shr(64 - count).unwrap_or(0);
        self.at += count as usize;
        value
    }

    /// Gorilla's words (see `BitWriter::xor_words`) into `values`; `Err` for a header whose
    /// leading zeros and length do not fit a word.
    fn xor_words(&mut self, values: &mut [f64]) -> Result<(), ()> {
        let (mut before, mut leading, mut trailing) = (0u64, 0u32, 0u32);
        for (index, value) in values.iter_mut().enumerate() {
            let window = self.window();
            let word = if index == 0 {
                self.at += 64;
                window
            } else if window >> 63 == 0 {
                self.at += 1;
                before
            } else if window >> 62 == 0b10 {
                self.at += 2;
                before ^ (self.take(64 - leading - trailing) << trailing)
            } else {
                leading = (window >> 56) as u32 & 63;
                let length = (window >> 50) as u32 % 64 + 1;
                trailing = 64u32.checked_sub(leading + length).ok_or(())?;
                self.at += 14;
                before ^ (self.take(length) << trailing)
            };
            *value = f64::from_bits(word);
            before = word;
        }
        Ok(())
    }

    /// Moves `reader` past the whole bytes read (the bits left in the last one are the run's
    /// padding), or says where the input ended if the run went past it.
    fn finish(self, reader: &mut Reader<'_>) -> Result<(), usize> {
        let used = self.at.div_ceil(8);
        if used > self.bytes.len() {
            return Err(reader.at + self.bytes.len());
        }
        reader.at += used;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn round_trip(values: &[f64]) -> usize {
        let mut bytes = Vec::new();
        encode(values, &mut bytes);
        let mut reader = Reader::new(&bytes);
        let mut back = vec![0.0; values.len()];
        decode(&mut reader, &mut back).unwrap();
        assert!(reader.is_done(), "everything read");
        assert_eq!(
            back.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            values.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        );
        bytes.len()
    }

    #[test]
    fn typical_minutes_take_a_byte_or_two_a_value() {
        // Revenue with two decimals wandering; active users (integers); a constant; a counter of
        // thirds stepping by one (the ingest benchmark's shape).
        let revenue: Vec<f64> =
            (0..60).map(|i| ((1_000.0 + (i as f64 * 0.7).sin() * 50.0) * 100.0).round() / 100.0).collect();
        let users: Vec<f64> = (0..60).map(|i| (5_000 + i * 3 - (i % 7) * 2) as f64).collect();
        let constant = [42.5; 60];
        let thirds: Vec<f64> = (0..60).map(|i| (i + 400) as f64 + 3.0 / 7.0).collect();
        for (name, values, most) in [
            ("revenue", &revenue[..], 150),
            ("users", &users[..], 70),
            ("constant", &constant[..], 70),
            ("thirds", &thirds[..], 120),
        ] {
            let size = round_trip(values);
            assert!(size <= most, "{name}: {size} bytes for 60 values");
        }
    }

    #[test]
    fn awkward_values_come_back() {
        round_trip(&[-0.0, 0.0, -0.0]);
        round_trip(&[f64::MIN_POSITIVE / 4.0, 5e-324, 0.0]);
        round_trip(&[9_007_199_254_740_993.0, 9_007_199_254_740_994.0, -1e300, 1e-300]);
        round_trip(&[f64::INFINITY, f64::NEG_INFINITY, f64::NAN]);
        round_trip(&[1.0]);
        round_trip(&[]);
    }

    proptest! {
        #[test]
        fn any_run_comes_back_bit_for_bit(values in prop::collection::vec(prop::num::f64::ANY, 0..70)) {
            round_trip(&values);
        }

        #[test]
        fn repeated_and_stepping_runs_come_back(start in -1e6f64..1e6, step in prop::sample::select(vec![0.0, 1.0, 0.1, 0.25, 1e-9]), length in 1usize..70) {
            let values: Vec<f64> = (0..length).map(|i| start + step * i as f64).collect();
            round_trip(&values);
        }
    }
}
