//! The byte primitives every codec of the store writes with: LEB128 varints, zigzag for
//! signed values, and a `Reader` that says where a damaged input ends.

pub fn put_varint(bytes: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        bytes.push(value as u8 | 0x80);
        value >>= 7;
    }
    bytes.push(value as u8);
}

pub fn zigzag(value: i64) -> u64 {
    ((value << 1) ^ (value >> 63)) as u64
}

pub fn unzigzag(value: u64) -> i64 {
    (value >> 1) as i64 ^ -((value & 1) as i64)
}

/// Reads varints and bytes from a slice, saying where it went wrong.
pub struct Reader<'a> {
    pub(in crate::server::store) bytes: &'a [u8],
    pub at: usize,
}

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Reader { bytes, at: 0 }
    }

    pub fn varint(&mut self) -> Result<u64, usize> {
        // One byte (most deltas of deltas): no loop.
        if let Some(&byte) = self.bytes.get(self.at).filter(|byte| **byte < 0x80) {
            self.at += 1;
            return Ok(u64::from(byte));
        }
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *self.bytes.get(self.at).ok_or(self.at)?;
            self.at += 1;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(self.at)
    }

    pub fn take(&mut self, count: usize) -> Result<&'a [u8], usize> {
        let slice = self.bytes.get(self.at..self.at + count).ok_or(self.at)?;
        self.at += count;
        Ok(slice)
    }

    pub fn byte(&mut self) -> Result<u8, usize> {
        Ok(self.take(1)?[0])
    }

    pub fn is_done(&self) -> bool {
        self.at >= self.bytes.len()
    }
}
