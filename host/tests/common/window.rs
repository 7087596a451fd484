//! How far back a raw deflate stream reaches: a small inflater (after
//! zlib's `puff.c`) that reports the longest match distance it decodes.
//!
//! RFC 7692 lets a client cap the server's LZ77 window
//! (`server_max_window_bits`); to check that the host keeps to it, the test
//! must see the distances. Inflating with a small window does not show
//! them: zlib-rs (and miniz_oxide) always keep a 32 KiB window, and even C
//! zlib lets a match reach into the output of the same call.

/// Decode a raw deflate stream (permessage-deflate's tail 00 00 ff ff
/// appended by the caller): the bytes, and the longest distance any match
/// reached back. `None` when the stream is malformed.
pub fn inflate_measuring(data: &[u8]) -> Option<(Vec<u8>, usize)> {
    let mut bits = Bits {
        data,
        position: 0,
        buffer: 0,
        count: 0,
    };
    let mut out = Vec::new();
    let mut farthest = 0;
    while bits.position < data.len() || bits.count >= 8 {
        let _final_block = bits.take(1)?;
        match bits.take(2)? {
            0 => {
                bits.count = 0; // to a byte boundary
                let len = bits.byte()? as usize | (bits.byte()? as usize) << 8;
                let nlen = bits.byte()? as usize | (bits.byte()? as usize) << 8;
                if len != !nlen & 0xffff {
                    return None;
                }
                for _ in 0..len {
                    out.push(bits.byte()?);
                }
            }
            1 => {
                let mut lengths = [8u8; 288];
                lengths[144..256].fill(9);
                lengths[256..280].fill(7);
                let literals = Huffman::new(&lengths)?;
                let distances = Huffman::new(&[5u8; 30])?;
                farthest = farthest.max(codes(&mut bits, &literals, &distances, &mut out)?);
            }
            2 => {
                let (literals, distances) = dynamic_tables(&mut bits)?;
                farthest = farthest.max(codes(&mut bits, &literals, &distances, &mut out)?);
            }
            _ => return None,
        }
    }
    Some((out, farthest))
}

struct Bits<'a> {
    data: &'a [u8],
    position: usize,
    buffer: u32,
    count: u32,
}

impl Bits<'_> {
    fn take(&mut self, need: u32) -> Option<u32> {
        while self.count < need {
            self.buffer |= u32::from(*self.data.get(self.position)?) << self.count;
            self.position += 1;
            self.count += 8;
        }
        let value = self.buffer & ((1u32 << need) - 1);
        self.buffer >>= need;
        self.count -= need;
        Some(value)
    }

    /// A whole byte, once at a byte boundary.
    fn byte(&mut self) -> Option<u8> {
        self.buffer = 0;
        let byte = *self.data.get(self.position)?;
        self.position += 1;
        Some(byte)
    }
}

/// A canonical Huffman code: how many codes of each length, and the
/// symbols in code order.
struct Huffman {
    counts: [u16; 16],
    symbols: Vec<u16>,
}

impl Huffman {
    fn new(lengths: &[u8]) -> Option<Huffman> {
        let mut counts = [0u16; 16];
        for &length in lengths {
            counts[usize::from(length)] += 1;
        }
        let mut offsets = [0u16; 16];
        for length in 1..15 {
            offsets[length + 1] = offsets[length] + counts[length];
        }
        let mut symbols = vec![0u16; lengths.len()];
        for (symbol, &length) in lengths.iter().enumerate() {
            if length != 0 {
                let slot = &mut offsets[usize::from(length)];
                *symbols.get_mut(usize::from(*slot))? = symbol as u16;
                *slot += 1;
            }
        }
        Some(Huffman { counts, symbols })
    }

    fn decode(&self, bits: &mut Bits) -> Option<u16> {
        let (mut code, mut first, mut index) = (0i32, 0i32, 0i32);
        for length in 1..16 {
            code |= bits.take(1)? as i32;
            let count = i32::from(self.counts[length]);
            if code - first < count {
                return self.symbols.get((index + code - first) as usize).copied();
            }
            index += count;
            first = (first + count) << 1;
            code <<= 1;
        }
        None
    }
}

const LENGTH_BASE: [u16; 29] = [
    3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131,
    163, 195, 227, 258,
];
const LENGTH_EXTRA: [u32; 29] = [
    0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0,
];
const DISTANCE_BASE: [u16; 30] = [
    1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537,
    2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577,
];
const DISTANCE_EXTRA: [u32; 30] = [
    0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13,
    13,
];

/// One block's literals and matches, up to its end code; returns the
/// farthest distance used.
fn codes(
    bits: &mut Bits,
    literals: &Huffman,
    distances: &Huffman,
    out: &mut Vec<u8>,
) -> Option<usize> {
    let mut farthest = 0;
    loop {
        let symbol = usize::from(literals.decode(bits)?);
        match symbol {
            0..=255 => out.push(symbol as u8),
            256 => return Some(farthest),
            _ => {
                let index = symbol - 257;
                let length = usize::from(*LENGTH_BASE.get(index)?)
                    + bits.take(*LENGTH_EXTRA.get(index)?)? as usize;
                let index = usize::from(distances.decode(bits)?);
                let distance = usize::from(*DISTANCE_BASE.get(index)?)
                    + bits.take(*DISTANCE_EXTRA.get(index)?)? as usize;
                let start = out.len().checked_sub(distance)?;
                for offset in 0..length {
                    out.push(out[start + offset]);
                }
                farthest = farthest.max(distance);
            }
        }
    }
}

/// A dynamic block's two code tables, read from its header.
fn dynamic_tables(bits: &mut Bits) -> Option<(Huffman, Huffman)> {
    const ORDER: [usize; 19] = [
        16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15,
    ];
    let literal_count = bits.take(5)? as usize + 257;
    let distance_count = bits.take(5)? as usize + 1;
    let code_count = bits.take(4)? as usize + 4;
    let mut code_lengths = [0u8; 19];
    for &slot in &ORDER[..code_count] {
        code_lengths[slot] = bits.take(3)? as u8;
    }
    let code_lengths = Huffman::new(&code_lengths)?;
    let mut lengths = Vec::with_capacity(literal_count + distance_count);
    while lengths.len() < literal_count + distance_count {
        match code_lengths.decode(bits)? {
            length @ 0..=15 => lengths.push(length as u8),
            16 => {
                let previous = *lengths.last()?;
                let repeat = 3 + bits.take(2)?;
                lengths.extend((0..repeat).map(|_| previous));
            }
            17 => lengths.extend((0..3 + bits.take(3)?).map(|_| 0)),
            18 => lengths.extend((0..11 + bits.take(7)?).map(|_| 0)),
            _ => return None,
        }
    }
    let (literal_lengths, distance_lengths) = lengths.split_at(literal_count);
    Some((
        Huffman::new(literal_lengths)?,
        Huffman::new(distance_lengths)?,
    ))
}
